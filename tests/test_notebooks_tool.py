"""The single-source tool: solutions/ -> chapters/."""
import subprocess
import sys

import nbformat
import pytest

from course import notebooks
from course.notebooks import MalformedNotebook, strip_solutions, student_version
from tests.helpers import ROOT

LABEL = "Exercise 9.9: f"
STUB = f'raise NotImplementedError("{LABEL}")'


def test_region_keeps_its_indentation():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n"
    assert strip_solutions(src, LABEL) == f"def f(x):\n    y = 1\n    {STUB}\n"


def test_several_regions_in_one_cell():
    src = ("class F:\n    def a(self):\n        ### BEGIN SOLUTION\n        return 1\n"
           "        ### END SOLUTION\n\n    def b(self):\n        if True:\n"
           "            ### BEGIN SOLUTION\n            return 2\n            ### END SOLUTION\n")
    out = strip_solutions(src, LABEL)
    assert out.count(STUB) == 2
    assert f"        {STUB}\n" in out and f"            {STUB}\n" in out
    assert "return 1" not in out and "return 2" not in out
    compile(out, "cell", "exec")


def test_whole_function_body():
    src = 'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    a = x\n    b = a * 2\n    return b\n    ### END SOLUTION'
    out = strip_solutions(src, LABEL)
    assert out == f'def f(x):\n    """Doc."""\n    {STUB}'
    namespace = {}
    exec(out, namespace)
    with pytest.raises(NotImplementedError, match="Exercise 9.9: f"):
        namespace["f"](1)


@pytest.mark.parametrize("src, problem", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "has no '### END SOLUTION'"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "never opened"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the one opened on line 1"),
    ("x = 1  ### BEGIN SOLUTION\n", "alone on its line"),
])
def test_malformed_region_names_notebook_and_cell(src, problem):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"),
                                         nbformat.v4.new_code_cell(src, id="the-cell")])
    with pytest.raises(MalformedNotebook) as e:
        student_version(nb, "07_demo.ipynb")
    assert "07_demo.ipynb cell 1 (id the-cell)" in str(e.value)
    assert problem in str(e.value)


def test_region_must_define_a_known_exercise():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "def helper():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n", id="c")])
    with pytest.raises(MalformedNotebook, match="exactly one exercise"):
        student_version(nb, "x.ipynb")


def test_student_version_clears_outputs_keeps_ids_drops_hidden_tests():
    code = ("def training_flops(n_params, n_tokens):\n    ### BEGIN SOLUTION\n"
            "    return 6.0 * n_params * n_tokens\n    ### END SOLUTION\n")
    cells = [nbformat.v4.new_code_cell(code, id="exercise-training_flops", execution_count=3,
                                       outputs=[nbformat.v4.new_output("stream", text="hi")]),
             nbformat.v4.new_code_cell("assert True", id="hidden",
                                       metadata={"tags": ["hidden-test", "remove-cell"]}),
             nbformat.v4.new_markdown_cell("text", id="md")]
    solution = nbformat.v4.new_notebook(cells=cells)
    student = student_version(solution, "s.ipynb")
    assert [c.id for c in student.cells] == ["exercise-training_flops", "md"]
    first = student.cells[0]
    assert first.outputs == [] and first.execution_count is None
    assert 'raise NotImplementedError("Exercise 1.2: training_flops")' in first.source
    assert first.metadata["course"] == {"exercise": "1.2", "name": "training_flops"}
    assert solution.cells[0].outputs, "the solution notebook itself is not modified"


def test_chapters_are_in_sync_with_solutions():
    assert notebooks.stale() == [], "run: python -m course.notebooks build"


def test_check_command_fails_and_names_a_stale_chapter(tmp_path, monkeypatch):
    (tmp_path / "solutions").mkdir()
    (tmp_path / "chapters").mkdir()
    src = ROOT / "solutions" / "01_background.ipynb"
    (tmp_path / "solutions" / src.name).write_text(src.read_text())
    monkeypatch.setattr(notebooks, "SOLUTIONS", tmp_path / "solutions")
    monkeypatch.setattr(notebooks, "CHAPTERS", tmp_path / "chapters")
    assert notebooks.main(["check"]) == 1                      # chapter missing
    assert notebooks.main(["build"]) == 0
    assert notebooks.main(["check"]) == 0
    nb = nbformat.read(tmp_path / "solutions" / src.name, as_version=4)
    nb.cells[0].source += "\nAn edit to the solution that was not rebuilt."
    nbformat.write(nb, tmp_path / "solutions" / src.name)
    assert notebooks.main(["check"]) == 1


def test_check_command_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "course.notebooks", "check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = subprocess.run([sys.executable, "-m", "course.notebooks", "frobnicate"], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
