"""English prose that ships with every Python: the documentation topics of ``pydoc_data``.

Chapter 07 adapts its GPT, pre-trained on Python source code (:func:`course.data.python_corpus`),
to this text. ``pydoc_data.topics.topics`` maps each of about 80 help topics ("assert",
"assignment", ..., "yield") to the text that ``help("assert")`` prints: the language
reference, in English, with a few code examples. Nothing is downloaded or copied into the
repository: the text is read from the running interpreter, so it changes a little between
Python versions (chapter 07's figures were measured with CPython 3.11).
"""
from __future__ import annotations

from functools import lru_cache

DOCS_TRAIN_CHARS = 40_000       # the first 40,000 characters (the first topics in alphabetical order)
DOCS_VAL_CHARS = 20_000         # the last 20,000: other topics, never seen in training


def documentation_text() -> str:
    """Every topic's text, topics in sorted order, joined by newlines; cleaned like the corpus
    (tabs -> four spaces, characters outside printable ASCII -> '?')."""
    from pydoc_data.topics import topics

    from course.data import _clean

    return _clean("\n".join(topics[k] for k in sorted(topics)))


@lru_cache(maxsize=1)
def documentation_corpus():
    """A :class:`course.data.Corpus` of the documentation with the Python corpus's vocabulary:
    ``train`` the first :data:`DOCS_TRAIN_CHARS` characters, ``val`` the last :data:`DOCS_VAL_CHARS`."""
    from course.data import Corpus, python_corpus

    text = documentation_text()
    return Corpus(train=text[:DOCS_TRAIN_CHARS], val=text[-DOCS_VAL_CHARS:], chars=python_corpus().chars)
