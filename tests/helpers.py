"""Shared test helpers: load the reference answers and the stubs out of the notebooks."""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat

from course.check import result
from course.exercise import Result

ROOT = Path(__file__).resolve().parent.parent
CHECK_CELL = re.compile(r"^check\.(\w+)\(", re.M)


def exercise_cells(nb) -> list:
    """The exercise cells of a notebook (those with solution markers or stubs)."""
    return [c for c in nb.cells if c.cell_type == "code" and
            ("### BEGIN SOLUTION" in c.source or "raise NotImplementedError(\"Exercise" in c.source)]


def answers(notebook: str, student: bool = False) -> dict:
    """Run every exercise cell of solutions/ (or chapters/) NOTEBOOK; return the namespace.

    Exercise cells are self-contained (they import what they use), so this is what the
    learner's answers look like to the checks.
    """
    folder = "chapters" if student else "solutions"
    nb = nbformat.read(ROOT / folder / notebook, as_version=4)
    namespace: dict = {"__name__": "__main__"}
    cwd = os.getcwd()
    os.chdir(ROOT / folder)
    try:
        for cell in exercise_cells(nb):
            exec(compile(cell.source, f"<{notebook}:{cell.id}>", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace


def verdict(name: str, answer, seed: int = 0) -> Result:
    return result(name, answer, seed)


def assert_passes(name: str, answer, seeds=(0, 1, 2)) -> None:
    for seed in seeds:
        r = verdict(name, answer, seed)
        assert r.status == "passed", (seed, r.message, r.hint)


def assert_fails(name: str, answer, *phrases: str, seed: int = 0) -> Result:
    """The check rejects ``answer``; its message or hint contains every phrase (any case)."""
    r = verdict(name, answer, seed)
    assert r.status == "failed", (r.status, r.message)
    text = f"{r.message} {r.hint or ''}".lower()
    for phrase in phrases:
        assert phrase.lower() in text, (phrase, r.message, r.hint)
    return r
