"""Every student notebook runs top to bottom with no exercise done; each check says 'not implemented'.

Training loops are cut to a few steps (COURSE_SMOKE, see course/progress.py): this test is
about every cell running for a learner who has not started, not about the figures, which the
nbval run of solutions/ pins.
"""
import re

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import CHECK_CELL, ROOT

CHAPTERS = sorted(p.name for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("notebook", CHAPTERS)
def test_student_notebook_runs_with_no_exercise_done(notebook, monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "2")
    nb = nbformat.read(ROOT / "chapters" / notebook, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "chapters")}}).execute()
    checks = [c for c in nb.cells if c.cell_type == "code" and CHECK_CELL.search(c.source)]
    assert checks, "a chapter with exercises has check cells"
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert re.search(r"⏳ \d+\.\d+ \w+: not implemented yet\.", text), (cell.source, text)
        assert "❌" not in text and "Traceback" not in text, text
