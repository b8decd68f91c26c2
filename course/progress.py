"""Progress bars for training loops, with a smoke-test mode for the test suite.

``progress(range(steps))`` is ``tqdm.auto.tqdm``. When the environment variable
``COURSE_SMOKE`` is set to a number n (the tests do this for the student notebooks),
every loop stops after n iterations: the tests then check that each cell runs, not the
figures a full run reaches, which the solution notebooks pin.
"""
from __future__ import annotations

import itertools
import os
from typing import TypeVar
from collections.abc import Iterable

T = TypeVar("T")


def smoke_steps() -> int | None:
    value = os.environ.get("COURSE_SMOKE", "")
    return int(value) if value.strip() else None


def progress(iterable: Iterable[T], **tqdm_kwargs) -> Iterable[T]:
    """``tqdm.auto.tqdm(iterable)``, cut to ``COURSE_SMOKE`` iterations when that is set."""
    import warnings

    with warnings.catch_warnings():     # without ipywidgets tqdm.auto falls back to text bars
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

    limit = smoke_steps()
    if limit is not None:
        total = tqdm_kwargs.pop("total", None) or (len(iterable) if hasattr(iterable, "__len__") else None)
        iterable = itertools.islice(iterable, limit)
        tqdm_kwargs["total"] = min(limit, total) if total is not None else limit
    tqdm_kwargs.setdefault("mininterval", 1.0)
    return tqdm(iterable, **tqdm_kwargs)
