"""Data sets of the course. Nothing is downloaded: each is made here or ships with a package.

- :func:`digits` — scikit-learn's bundled 8×8 handwritten digits, with a fixed split;
- :func:`python_corpus` — source files of Python's own standard library, as a text corpus.

Splits are fixed by seed, so every chapter and every learner sees the same ones.
"""
from __future__ import annotations

import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------- digits

DIGITS_TEST_FRACTION = 0.25     # 450 of the 1,797 images
DIGITS_SEED = 0


@dataclass(frozen=True)
class DigitsSplit:
    """Images (N, 8, 8) float32 in [0, 1] and labels (N,) int64, train and test."""
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@lru_cache(maxsize=1)
def digits() -> DigitsSplit:
    """The course's fixed, stratified split of ``sklearn.datasets.load_digits``.

    1,347 training and 450 test images; pixel values 0..16 scaled to [0, 1]. Chapters that
    need a validation split carve it out of the training images, never out of the test set.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X = (bunch.images / 16.0).astype(np.float32)          # (1797, 8, 8)
    y = bunch.target.astype(np.int64)                     # (1797,)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=DIGITS_TEST_FRACTION, random_state=DIGITS_SEED, stratify=y)
    for a in (X_train, X_test, y_train, y_test):
        a.flags.writeable = False                          # shared: copy before changing
    return DigitsSplit(X_train, y_train, X_test, y_test)


# --------------------------------------------------------------------------- text corpus

# Packages of the standard library whose modules (the *.py files directly inside each
# folder, in sorted order) make the corpus: about 1 MB of mostly code, present in CPython
# 3.10 to 3.13. Their text changes a little between Python versions, so the figures of
# chapters 04 and 05 shift slightly too (the notebooks were run with CPython 3.11).
CORPUS_PACKAGES = ("asyncio", "logging", "concurrent/futures", "unittest")
CORPUS_VALIDATION_FRACTION = 0.1          # the last 10% of the text


@dataclass(frozen=True)
class Corpus:
    """A character-level corpus: text, its vocabulary, and the train/validation split."""
    train: str
    val: str
    chars: str                              # the vocabulary, sorted

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """str -> (len,) int64 indices into ``chars``."""
        index = {c: i for i, c in enumerate(self.chars)}
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def _clean(text: str) -> str:
    """Tabs become four spaces; characters outside printable ASCII become '?'."""
    text = text.replace("\t", "    ")
    return "".join(c if c == "\n" or 32 <= ord(c) < 127 else "?" for c in text)


def corpus_files() -> list[Path]:
    """The files of the corpus, in order."""
    lib = Path(sysconfig.get_paths()["stdlib"])
    return [p for package in CORPUS_PACKAGES for p in sorted((lib / package).glob("*.py"))]


CORPUS_FILES = tuple(str(p.relative_to(Path(sysconfig.get_paths()["stdlib"])))
                     for p in corpus_files())     # e.g. "asyncio/base_events.py"


@lru_cache(maxsize=1)
def python_corpus() -> Corpus:
    """About 1 MB of Python source from the running interpreter's standard library.

    The modules of :data:`CORPUS_PACKAGES` are read package by package, each package's files
    in sorted order, and joined with newlines. The first 90% is training text, the last 10%
    (the end of ``unittest``) validation.
    """
    files = corpus_files()
    parts = [p.read_text(encoding="utf-8") for p in files]
    text = _clean("\n".join(parts))
    cut = int(len(text) * (1 - CORPUS_VALIDATION_FRACTION))
    return Corpus(train=text[:cut], val=text[cut:], chars="".join(sorted(set(text))))
