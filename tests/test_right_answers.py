"""A right answer always scores (issue 18): in the notebook's check and in the grader alike.

Every ``tests/test_checks_<topic>.py`` holds ``ALTERNATIVES``: for each exercise of its
chapter, complete exercise cells that are right but written in other styles than the
reference (loops or einsum, a namedtuple, helper methods, names imported only by the
notebook's first cell, ...). Each one is run

- through the notebook's instant check, in a namespace prepared as the notebook has it when
  the learner reaches the exercise: the course's setup statements before the cell (what
  :func:`course.grade.setup_before_exercises` replays, with the notebook's own imports of
  the course's modules) and the chapter's earlier exercises answered the same way;
- through the grader, as a copy of the chapter's student notebook whose exercise cells hold
  the alternatives: one graded notebook per chapter and alternative index, so the cost is a
  few kernels per chapter, not one per answer.

Both must pass: an answer that passes its check passes the grader and the other way round.
Exercises named in ALTERNATIVES but not registered yet (a chapter being written) are skipped.
"""
from __future__ import annotations

import contextlib
import importlib
import os
from functools import cache

import nbformat
import pytest

from course.check import result
from course.exercise import exercises
from course.grade import exercise_cells, grade_notebook, names_loaded, setup_before_exercises
from tests.helpers import ROOT

CHECK_MODULES = sorted(p.stem for p in (ROOT / "tests").glob("test_checks_*.py"))


@cache
def alternatives() -> dict[str, list[str]]:
    """exercise name -> right answers in other styles, from every test_checks_* module."""
    found: dict[str, list[str]] = {}
    for module in CHECK_MODULES:
        table = getattr(importlib.import_module(f"tests.{module}"), "ALTERNATIVES", {})
        for name, sources in table.items():
            assert name not in found, f"{name} has ALTERNATIVES in two modules"
            found[name] = list(sources)
    return found


@cache
def chapter_of() -> dict[str, str]:
    """exercise name -> student notebook file name, for every exercise in chapters/."""
    found = {}
    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        for cell in exercise_cells(nbformat.read(path, as_version=4)):
            found[cell.metadata["course"]["name"]] = path.name
    return found


def _registered(name: str) -> None:
    if name not in exercises() or name not in chapter_of():
        pytest.skip(f"{name} is not a registered exercise of a chapter yet")


IN_NOTEBOOK = [(name, i) for name, sources in sorted(alternatives().items())
               for i in range(len(sources))]


def test_every_exercise_has_two_alternatives():
    missing = [name for name in sorted(chapter_of())
               if len(alternatives().get(name, [])) < 2]
    assert not missing, f"exercises with fewer than two ALTERNATIVES: {missing}"


@contextlib.contextmanager
def _in(folder):
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)


def notebook_namespace(notebook: str, name: str, index: int) -> dict:
    """The notebook's globals when the learner reaches ``name``'s cell (see the module doc)."""
    skeleton = nbformat.read(ROOT / "chapters" / notebook, as_version=4)
    reference = {c.get("id"): c.source for c in
                 nbformat.read(ROOT / "solutions" / notebook, as_version=4).cells}
    sources = {}                            # the chapter's exercise cells, as graded in batch
    for cell in exercise_cells(skeleton):
        here = cell.metadata["course"]["name"]
        mine = alternatives().get(here, [])
        sources[here] = mine[index] if index < len(mine) else reference[cell.get("id")]
    setups = setup_before_exercises(skeleton, include_grader_imports=True,
                                    uses=set().union(*map(names_loaded, sources.values())))
    namespace: dict = {"__name__": "__main__"}
    with _in(ROOT / "chapters"):
        for here, source in sources.items():
            for statement in setups[here].statements:
                with contextlib.suppress(Exception):
                    exec(compile(statement, f"<{notebook} setup>", "exec"), namespace)
            if here == name:
                return namespace
            exec(compile(source, f"<{notebook}:{here}>", "exec"), namespace)
    raise KeyError(name)


@pytest.mark.parametrize("name, index", IN_NOTEBOOK)
def test_alternative_passes_the_notebook_check(name, index):
    _registered(name)
    notebook = chapter_of()[name]
    namespace = notebook_namespace(notebook, name, index)
    with _in(ROOT / "chapters"):
        exec(compile(alternatives()[name][index], f"<alternative {index} of {name}>", "exec"),
             namespace)
        verdict = result(name, namespace[name], seed=0)
    assert verdict.status == "passed", (verdict.message, verdict.hint)


GRADED = sorted({(chapter_of()[name], i) for name, i in IN_NOTEBOOK if name in chapter_of()})


@pytest.mark.parametrize("notebook, index", GRADED)
def test_alternatives_pass_the_grader(notebook, index, tmp_path):
    nb = nbformat.read(ROOT / "chapters" / notebook, as_version=4)
    replaced = []
    for cell in exercise_cells(nb):
        name = cell.metadata["course"]["name"]
        sources = alternatives().get(name, [])
        if index < len(sources):
            cell.source = sources[index]
            replaced.append(name)
    nbformat.write(nb, tmp_path / notebook)
    report = grade_notebook(tmp_path / notebook, seed=20261202)
    wrong = {e.name: f"{e.status}: {e.message} {e.hint}" for e in report.exercises
             if e.name in replaced and e.status != "passed"}
    assert not wrong, wrong
