"""course.dates: the generated date-translation data of chapter 05."""
import datetime as dt

import numpy as np
import pytest

from course import dates
from course.dates import (BOS, EOS, FORMATS, PAD, SOURCE_LENGTH, SOURCE_VOCAB, TARGET_LENGTH,
                          TARGET_VOCAB, date_translation, format_date)


def test_formats_of_the_issue():
    d = dt.date(2019, 3, 25)
    written = {format_date(d, f) for f in FORMATS}
    assert {"march 25, 2019", "25/03/2019", "Mon 25 Mar 2019"} <= written
    assert len(written) == len(FORMATS)                 # every format writes it differently
    assert dates.iso(d) == "2019-03-25"


def test_names_do_not_depend_on_the_locale():
    assert format_date(dt.date(2000, 1, 3), "Wkd d Mon yyyy") == "Mon 3 Jan 2000"
    assert format_date(dt.date(1999, 12, 31), "DD-MON-YYYY") == "31-DEC-1999"


def test_split_is_fixed_by_the_seed():
    a, b = date_translation(), date_translation()
    assert a.train.sources[:50] == b.train.sources[:50] and a.test == b.test
    c = dates.date_translation.__wrapped__(n_train=50_000, n_test=1_000, seed=1)
    assert c.test.sources != a.test.sources


def test_sizes():
    split = date_translation()
    assert len(split.train) == 50_000 and len(split.test) == 1_000


def test_held_out_days_never_occur_in_training():
    split = date_translation()
    assert not set(split.test.targets) & set(split.train.targets)
    assert not set(split.test.sources) & set(split.train.sources)
    assert len(set(split.test.targets)) == len(split.test)     # 1,000 different days


def test_targets_are_the_sources_dates():
    split = date_translation()
    for s, t, f in zip(split.train.sources[:500], split.train.targets[:500], split.train.formats[:500]):
        assert format_date(dt.date.fromisoformat(t), f) == s


def test_every_format_is_used_in_both_parts():
    split = date_translation()
    assert set(split.train.formats) == set(FORMATS) == set(split.test.formats)


def test_lengths_fit_the_vocabularies():
    split = date_translation()
    longest = max(len(s) for s in split.train.sources + split.test.sources)
    assert longest <= SOURCE_LENGTH
    assert all(len(t) == TARGET_LENGTH for t in split.train.targets)
    SOURCE_VOCAB.encode(split.train.sources, SOURCE_LENGTH)     # no unknown character
    TARGET_VOCAB.encode(split.train.targets, TARGET_LENGTH)


def test_encode_decode_roundtrip():
    ids = SOURCE_VOCAB.encode(["Mon 25 Mar 2019", "25/03/2019"], SOURCE_LENGTH, bos=True, eos=True)
    assert ids.shape == (2, SOURCE_LENGTH) and ids.dtype == np.int64
    assert ids[0, 0] == BOS and ids[1, 11] == EOS and ids[1, -1] == PAD
    assert SOURCE_VOCAB.decode(ids[0, 1:]) == "Mon 25 Mar 2019"
    assert TARGET_VOCAB.decode(TARGET_VOCAB.encode(["2019-03-25"], 11)[0]) == "2019-03-25"
    assert TARGET_VOCAB.size == 14 and SOURCE_VOCAB.token(PAD) == "<pad>"


def test_encode_rejects_too_long_text():
    with pytest.raises(ValueError):
        TARGET_VOCAB.encode(["2019-03-25"], 10, bos=True)
