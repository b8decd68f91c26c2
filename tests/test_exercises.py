"""Every exercise of the course: the reference solution passes, the untouched stub is 'not implemented'."""
import pytest

from course.exercise import exercises
from tests.helpers import ROOT, answers, assert_passes, verdict

import nbformat


def _exercise_notebooks():
    """exercise name -> solution notebook file name, read from the notebooks themselves."""
    found = {}
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        student = nbformat.read(ROOT / "chapters" / path.name, as_version=4)
        for cell in student.cells:
            if "course" in cell.metadata:
                found[cell.metadata["course"]["name"]] = path.name
    return found


NOTEBOOK_OF = _exercise_notebooks()


def test_every_registered_exercise_is_in_a_notebook():
    assert sorted(exercises()) == sorted(NOTEBOOK_OF)


def test_ids_are_unique_and_match_the_chapter():
    ids = [ex.id for ex in exercises().values()]
    assert len(ids) == len(set(ids))
    for name, notebook in NOTEBOOK_OF.items():
        assert int(exercises()[name].id.split(".")[0]) == int(notebook[:2]), name


@pytest.mark.parametrize("name", sorted(NOTEBOOK_OF))
def test_reference_solution_passes(name):
    assert_passes(name, answers(NOTEBOOK_OF[name])[name])


@pytest.mark.parametrize("name", sorted(NOTEBOOK_OF))
def test_stub_is_not_implemented(name):
    r = verdict(name, answers(NOTEBOOK_OF[name], student=True)[name])
    assert r.status == "not_implemented", r.message
