"""The notebook's instant checks: ``check.conv2d_naive(conv2d_naive)`` prints one line.

Every exercise registered in :mod:`course.exercises` is available here by its name. The
check runs the exercise's cases in this process with a fixed seed and prints

    ✅ 3.1 conv2d_naive: passed 6 cases, incl. stride 2 and padding.
    ⏳ 3.1 conv2d_naive: not implemented yet.
    ❌ 3.1 conv2d_naive: case 'stride 2': output has shape (1, 2, 3, 3), expected (1, 2, 2, 2).
       Hint: H' = (H + 2·padding - KH) // stride + 1.

It returns None, so the notebook shows just that line; :func:`result` gives the verdict.
"""
from __future__ import annotations

import functools
from typing import Any
from collections.abc import Callable

from course.exercise import Exercise, Result, evaluate, exercises

SYMBOLS = {"passed": "✅", "not_implemented": "⏳", "failed": "❌", "error": "❌", "timeout": "⌛"}


def line(exercise: Exercise, result: Result) -> str:
    text = f"{SYMBOLS[result.status]} {exercise.id} {exercise.name}: {result.message}"
    if result.hint and result.status not in ("passed", "not_implemented"):
        text += f"\n   Hint: {result.hint}"
    return text


def result(name: str, answer: Any, seed: int = 0) -> Result:
    """The verdict on ``answer`` for exercise ``name``, without printing (used by tests)."""
    exercise = exercises()[name]
    try:
        return evaluate(exercise, answer, seed)
    except Exception as e:  # a bug in the check itself must still read as one line
        return Result("error", f"the check itself failed ({type(e).__name__}: {e}); "
                      "please report this.")


def run(name: str, answer: Any, seed: int = 0) -> None:
    """Check ``answer`` and print one line."""
    print(line(exercises()[name], result(name, answer, seed)))


def yours_or(answer: Callable, reference: Callable) -> Callable:
    """Call the learner's ``answer``; while it raises NotImplementedError, use ``reference``.

    Later cells use this so that the notebook runs top to bottom before the exercise is done.
    """
    told = False

    @functools.wraps(reference)
    def call(*args, **kwargs):
        nonlocal told
        try:
            return answer(*args, **kwargs)
        except NotImplementedError:
            if not told:
                print(f"(your {getattr(answer, '__name__', 'answer')} is not written yet: "
                      "the course's reference stands in)")
                told = True
            return reference(*args, **kwargs)

    return call


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    if name not in exercises():
        raise AttributeError(f"course.check has no exercise named {name!r}")
    return lambda answer, seed=0: run(name, answer, seed)


def __dir__():
    return sorted(exercises())
