"""Date translation: a small, generated machine-translation task (chapter 05).

Each example turns a date written by a person, in one of several formats, into ISO 8601::

    "march 25, 2019"          -> "2019-03-25"
    "25/03/2019"              -> "2019-03-25"
    "Mon 25 Mar 2019"         -> "2019-03-25"

The data is made here, from a seed; nothing is downloaded. The split is by *date*: the
calendar days of the held-out set never occur in training, in any format, so a model can
only get them right by learning the mapping, not by remembering inputs.

Month and weekday names are spelled out here (not with ``strftime``, whose names depend on
the machine's locale), so every machine makes the same data.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

FIRST_DAY = dt.date(1950, 1, 1)       # the calendar days the data is drawn from
LAST_DAY = dt.date(2049, 12, 31)      # (36,525 days)


def _parts(d: dt.date) -> dict[str, str]:
    month, weekday = MONTHS[d.month - 1], WEEKDAYS[d.weekday()]
    return dict(Y=f"{d.year:04d}", m=f"{d.month:02d}", d=f"{d.day:02d}", day=str(d.day),
                month=month, mon=month[:3], weekday=weekday, wd=weekday[:3])


# name -> template; fields: Y 4-digit year, m/d zero-padded month/day, day unpadded day,
# month/mon full/short month name, weekday/wd full/short weekday name.
FORMATS: dict[str, str] = {
    "month d, yyyy":           "{month_lower} {day}, {Y}",          # march 25, 2019
    "Month d, yyyy":           "{month} {day}, {Y}",                # March 25, 2019
    "dd/mm/yyyy":              "{d}/{m}/{Y}",                       # 25/03/2019
    "dd.mm.yyyy":              "{d}.{m}.{Y}",                       # 25.03.2019
    "Wkd d Mon yyyy":          "{wd} {day} {mon} {Y}",              # Mon 25 Mar 2019
    "d month yyyy":            "{day} {month_lower} {Y}",           # 25 march 2019
    "Mon d, yyyy":             "{mon} {day}, {Y}",                  # Mar 25, 2019
    "DD-MON-YYYY":             "{d}-{mon_upper}-{Y}",               # 25-MAR-2019
}


def format_date(d: dt.date, fmt: str) -> str:
    """``d`` written in format ``fmt`` (a key of :data:`FORMATS`)."""
    p = _parts(d)
    p |= dict(month_lower=p["month"].lower(), mon_upper=p["mon"].upper())
    return FORMATS[fmt].format(**p)


def iso(d: dt.date) -> str:
    """The target: ``YYYY-MM-DD``."""
    return d.isoformat()


@dataclass(frozen=True)
class DatePairs:
    """Source strings and their ISO targets, with the format each source is written in."""
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    formats: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.sources)


@dataclass(frozen=True)
class DateSplit:
    train: DatePairs
    test: DatePairs


def _pairs(days: np.ndarray, rng: np.random.Generator) -> DatePairs:
    names = list(FORMATS)
    fmts = rng.integers(len(names), size=len(days))
    dates = [FIRST_DAY + dt.timedelta(days=int(k)) for k in days]
    return DatePairs(tuple(format_date(d, names[f]) for d, f in zip(dates, fmts)),
                     tuple(iso(d) for d in dates), tuple(names[f] for f in fmts))


@lru_cache(maxsize=4)
def date_translation(n_train: int = 50_000, n_test: int = 1_000, seed: int = 0) -> DateSplit:
    """A fixed split of generated (source, ISO target) pairs.

    The calendar days between :data:`FIRST_DAY` and :data:`LAST_DAY` are shuffled with
    ``seed``; the first ``n_test`` are the test days (one example each, in a random format),
    the training examples are drawn, with replacement, from the remaining days, each in a
    random format. So no test day appears in training, in any format.
    """
    rng = np.random.default_rng(seed)
    n_days = (LAST_DAY - FIRST_DAY).days + 1
    if not 0 < n_test < n_days:
        raise ValueError(f"n_test must be between 1 and {n_days - 1}")
    days = rng.permutation(n_days)
    test_days, train_days = days[:n_test], days[n_test:]
    test = _pairs(test_days, rng)
    train = _pairs(rng.choice(train_days, size=n_train, replace=True), rng)
    return DateSplit(train, test)


# --------------------------------------------------------------------------- tokens

PAD, BOS, EOS = 0, 1, 2                      # special token ids, shared by both vocabularies
SPECIALS = ("<pad>", "<s>", "</s>")


@dataclass(frozen=True)
class Vocab:
    """Characters <-> ids; ids 0, 1, 2 are padding, start and end of sequence."""
    chars: str

    @property
    def size(self) -> int:
        return len(SPECIALS) + len(self.chars)

    def encode(self, texts, length: int, bos: bool = False, eos: bool = False) -> np.ndarray:
        """list of str -> (len(texts), length) int64 ids, right-padded with PAD."""
        index = {c: i + len(SPECIALS) for i, c in enumerate(self.chars)}
        out = np.full((len(texts), length), PAD, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [BOS] * bos + [index[c] for c in text] + [EOS] * eos
            if len(ids) > length:
                raise ValueError(f"{text!r} needs {len(ids)} tokens, more than {length}")
            out[row, :len(ids)] = ids
        return out

    def decode(self, ids) -> str:
        """ids -> str, skipping specials and stopping at the first EOS."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.chars[i - len(SPECIALS)])
        return "".join(out)

    def token(self, i: int) -> str:
        """How id ``i`` is shown in a plot."""
        return SPECIALS[i] if i < len(SPECIALS) else self.chars[i - len(SPECIALS)]


def _all_chars() -> str:
    chars = set("0123456789/.-, ")
    for name in MONTHS:
        chars |= set(name) | set(name.lower()) | set(name[:3].upper())
    for name in WEEKDAYS:
        chars |= set(name[:3])
    return "".join(sorted(chars))


SOURCE_VOCAB = Vocab(_all_chars())          # every character any format can produce
TARGET_VOCAB = Vocab("-0123456789")         # ISO dates need only these
SOURCE_LENGTH = 20                          # longest source ("September 30, 2019"): 18
TARGET_LENGTH = 10                          # YYYY-MM-DD
