"""The grader: full marks for solutions, 0 for stubs, and nothing gained by tampering.

Grading uses the course's own skeleton (chapters/) and runs only the exercise cells, so
each grading here takes a few seconds.
"""
import hashlib
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from course.grade import grade_notebook
from tests.helpers import ROOT

SOLUTIONS = sorted(p.name for p in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
CH01 = "01_background.ipynb"
WRONG_FLOPS = "def training_flops(n_params, n_tokens):\n    return 2 * n_params * n_tokens\n"


def statuses(report):
    return {e.name: e.status for e in report.exercises}


def learner_notebook(tmp_path, edits: dict[str, str], base="chapters", drop=(), name=CH01) -> Path:
    """A copy of chapter NAME (student or solution) with some cells' sources replaced by id."""
    nb = nbformat.read(ROOT / base / name, as_version=4)
    for cell in nb.cells:
        if cell.get("id") in edits:
            cell.source = edits[cell.id]
    nb.cells = [c for c in nb.cells if c.get("id") not in drop]
    folder = tmp_path / "submission"
    folder.mkdir(exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


@pytest.mark.parametrize("name", SOLUTIONS)
def test_solution_grades_to_full_marks(name):
    report = grade_notebook(ROOT / "solutions" / name, seed=12345)
    assert report.score == report.max_score > 0, [(e.name, e.message) for e in report.exercises]


@pytest.mark.parametrize("name", SOLUTIONS)
def test_untouched_student_notebook_grades_to_zero(name):
    report = grade_notebook(ROOT / "chapters" / name, seed=12345)
    assert report.score == 0
    assert set(statuses(report).values()) == {"not_implemented"}, statuses(report)


# ----------------------------------------------------------------------------- tampering

STRIP_ASSERTS = '''
import ast
class _NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_NoAsserts())
'''
SILENT_TRACEBACKS = "get_ipython().showtraceback = lambda *a, **k: None\n"
ALWAYS_AGREE = '''
import numpy as np, torch
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: np.True_
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
'''


def test_tampering_with_the_kernel_gains_nothing(tmp_path):
    """(a) asserts stripped, (b) showtraceback replaced, (d) numpy/torch made to always agree."""
    path = learner_notebook(tmp_path, {
        "exercise-training_flops": STRIP_ASSERTS + SILENT_TRACEBACKS + ALWAYS_AGREE + WRONG_FLOPS,
    })
    before = path.read_bytes()
    report = grade_notebook(path, seed=7)
    assert statuses(report) == {"count_gpt_params": "not_implemented", "training_flops": "failed",
                                "training_days": "not_implemented",
                                "training_memory_bytes": "not_implemented"}
    assert report.score == 0
    assert path.read_bytes() == before


def test_patching_the_check_module_is_refused(tmp_path):
    """(d) the check machinery patched to always pass: the cell fails, nothing else changes."""
    patch = ("import course.check, course.exercise\n"
             "course.exercise.judge_case = lambda *a, **k: ('passed', '', None)\n"
             "course.check.result = lambda *a, **k: None\n")
    path = learner_notebook(tmp_path, {"exercise-training_flops": patch + WRONG_FLOPS})
    report = grade_notebook(path, seed=7)
    flops = next(e for e in report.exercises if e.name == "training_flops")
    assert flops.status == "failed" and "grader's own code" in flops.message
    assert "import course.exercise" in flops.message


def test_only_what_reaches_the_grader_is_refused(tmp_path):
    """Issue 18, cause 3: a local `check`, a leftover check line and names the notebook's
    first cell imports (math) are fine; the references imported there (`reference`) are not."""
    path = learner_notebook(tmp_path, {
        "exercise-training_flops": ("def training_flops(n_params, n_tokens):\n"
                                    "    check = math.prod((6, n_params, n_tokens))\n"
                                    "    return check\n\n"
                                    "check.training_flops(training_flops)\n"),
        "exercise-training_days": ("def training_days(total_flops, n_gpus, peak_flops_per_gpu, "
                                   "utilization):\n    return reference.reference_training_days("
                                   "total_flops, n_gpus, peak_flops_per_gpu, utilization)\n"),
    })
    report = grade_notebook(path, seed=7)
    by_name = {e.name: e for e in report.exercises}
    assert by_name["training_flops"].status == "passed", by_name["training_flops"].message
    days = by_name["training_days"]
    assert days.status == "failed", days.message
    assert "`reference.reference_training_days` reaches course.exercises" in days.message


def test_edited_and_deleted_check_cells_change_nothing(tmp_path):
    """(c) check cells replaced by a fake ✅, or deleted: the grade is that of the answers."""
    path = learner_notebook(
        tmp_path, {"check-count_gpt_params": "print('✅ 1.1 count_gpt_params: passed')",
                   "exercise-training_flops": WRONG_FLOPS},
        drop={"check-training_flops", "check-training_days"})
    report = grade_notebook(path, seed=7)
    assert report.score == 0
    assert statuses(report)["training_flops"] == "failed"


def test_cells_found_by_name_when_ids_are_lost(tmp_path):
    nb = nbformat.read(ROOT / "solutions" / CH01, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell.id = f"renamed-{i}"
    folder = tmp_path / "s"
    folder.mkdir()
    nbformat.write(nb, folder / CH01)
    report = grade_notebook(folder / CH01, seed=3)
    assert report.score == report.max_score


READ_SOLUTIONS = '''
import json, pathlib, course
_nb = pathlib.Path(course.__file__).resolve().parent.parent / "solutions" / "01_background.ipynb"
for _cell in json.loads(_nb.read_text())["cells"]:
    if "def training_flops" in "".join(_cell["source"]):
        exec("".join(_cell["source"]))
'''


def test_reading_solutions_works_only_where_solutions_are_on_disk(tmp_path):
    """(e) The grader cannot stop a cell from reading files the grading machine holds.

    Where solutions/ is present the copied answer passes; in a grading checkout without
    solutions/ (what README, Grading, tells instructors to use) the same cell gets nothing.
    """
    path = learner_notebook(tmp_path, {"exercise-training_flops": READ_SOLUTIONS})
    with_solutions = grade_notebook(path, seed=5)
    assert statuses(with_solutions)["training_flops"] == "passed"

    checkout = tmp_path / "grading-checkout"          # the course without solutions/
    shutil.copytree(ROOT / "course", checkout / "course",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "chapters", checkout / "chapters")
    out = checkout / "report.json"
    subprocess.run([sys.executable, "-m", "course.grade", str(path), "--json", str(out),
                    "--seed", "5"], cwd=checkout, check=True, capture_output=True,
                   env={**__import__("os").environ, "PYTHONPATH": str(checkout)})
    exercises = json.loads(out.read_text())["notebooks"][0]["exercises"]
    flops = next(e for e in exercises if e["name"] == "training_flops")
    assert flops["status"] == "error" and "FileNotFoundError" in flops["message"]


# ----------------------------------------------------------------------------- faults

FAULTS = {
    "exercise-count_gpt_params": "while True:\n    pass\n",                       # hangs at definition
    "exercise-training_flops": "import os\nos._exit(1)\n",                       # kills the kernel
    "exercise-training_days": "print('x' * 100_000_000)\n" + (
        "def training_days(total_flops, n_gpus, peak_flops_per_gpu, utilization):\n"
        "    return total_flops / (n_gpus * peak_flops_per_gpu * utilization) / 86400\n"),
    "exercise-training_memory_bytes": ("def training_memory_bytes(n_params):\n"
                                       "    while True:\n        pass\n"),     # hangs when called
}


def test_faults_cost_only_their_exercise_and_reports_are_written(tmp_path):
    path = learner_notebook(tmp_path, FAULTS)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    outputs = {k: tmp_path / f"report.{k}" for k in ("json", "xml", "md")}
    proc = subprocess.run(
        [sys.executable, "-m", "course.grade", str(path), "--timeout", "8", "--seed", "1",
         "--json", str(outputs["json"]), "--junit", str(outputs["xml"]),
         "--markdown", str(outputs["md"])], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(outputs["json"].read_text())
    got = {e["name"]: e["status"] for e in data["notebooks"][0]["exercises"]}
    assert got == {"count_gpt_params": "timeout", "training_flops": "error",
                   "training_days": "passed", "training_memory_bytes": "timeout"}, got
    assert data["score"] == 1 and data["max_score"] == 5
    assert "kernel died" in data["notebooks"][0]["exercises"][1]["message"]
    suite = ET.parse(outputs["xml"]).getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("errors") == "1"
    assert "| 1.3 | `training_days` | 1/1 | ✅ passed |" in outputs["md"].read_text()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


# ----------------------------------------------------------------------------- command line

def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "course.grade", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=240)


def test_folder_with_a_broken_notebook_grades_the_others(tmp_path):
    folder = tmp_path / "class"
    (folder / "alice").mkdir(parents=True)
    (folder / "bob").mkdir()
    shutil.copy(ROOT / "solutions" / CH01, folder / "alice" / CH01)
    (folder / "bob" / CH01).write_text("{ this is not json")
    out = tmp_path / "r.json"
    proc = run_cli(folder, "--json", out, "--seed", "2")
    assert proc.returncode == 3, proc.stderr           # graded all, then failed: bob's is unreadable
    assert "could not be graded" in proc.stderr
    data = json.loads(out.read_text())
    by_learner = {Path(n["notebook"]).parent.name: n for n in data["notebooks"]}
    assert by_learner["alice"]["score"] == by_learner["alice"]["max_score"] == 5
    assert by_learner["bob"]["score"] == 0
    assert {e["status"] for e in by_learner["bob"]["exercises"]} == {"error"}
    assert "not valid JSON" in proc.stdout
    assert (data["score"], data["max_score"]) == (5, 10)


def test_exit_codes_fail_the_job_only_when_grading_could_not_happen(tmp_path):
    """Issue 17: unfinished exercises exit 0 (instructors choose --fail-under); a notebook that
    cannot be read exits 3 after writing the reports; a crash of the grader is not swallowed."""
    assert run_cli(ROOT / "chapters" / CH01, "--seed", "1").returncode == 0
    stray = tmp_path / "99_not_a_chapter.ipynb"
    shutil.copy(ROOT / "chapters" / CH01, stray)
    out = tmp_path / "r.md"
    proc = run_cli(stray, "--markdown", out)
    assert proc.returncode == 3 and "no chapter named" in proc.stderr and out.is_file()
    crash = subprocess.run(
        [sys.executable, "-c", "import sys, course.grade as g\n"
         "def boom(*a, **k):\n    raise RuntimeError('bug in the grader')\n"
         "g.grade_notebook = boom\nsys.exit(g.main(sys.argv[1:]))", str(ROOT / "chapters" / CH01)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert crash.returncode not in (0, 3) and "bug in the grader" in crash.stderr


def test_fail_under_and_usage_errors(tmp_path):
    assert run_cli(ROOT / "chapters" / CH01, "--fail-under", "1").returncode == 1
    assert run_cli(ROOT / "solutions" / CH01, "--fail-under", "100%").returncode == 0
    for bad in (["no/such/file.ipynb"], [ROOT / "chapters", "--timeout", "0"],
                [ROOT / "chapters", "--fail-under", "lots"], []):
        proc = run_cli(*bad)
        assert proc.returncode == 2, (bad, proc.stdout, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# ----------------------------------------------------------------------------- forbidden ops

CONV_WITH_TORCH = '''
import numpy as np
import torch
import torch.nn.functional as F

def conv2d_naive(x, w, b=None, stride=1, padding=0):
    bias = None if b is None else torch.from_numpy(b)
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), bias, stride=stride, padding=padding).numpy()
'''
CONV_HIDDEN = '''
import numpy as np

def conv2d_naive(x, w, b=None, stride=1, padding=0):
    lib = __import__("tor" + "ch")
    functional = getattr(getattr(lib, "nn"), "functional")
    conv = getattr(functional, "con" + "v2d")
    t = getattr(lib, "from_" + "numpy")
    out = conv(t(x), t(w), None if b is None else t(b), stride=stride, padding=padding)
    return out.numpy()
'''


@pytest.mark.parametrize("source, seen", [(CONV_WITH_TORCH, "in the source"),
                                          (CONV_HIDDEN, "at run time")])
def test_answer_calling_the_op_it_rebuilds_fails(tmp_path, source, seen):
    path = learner_notebook(tmp_path, {"exercise-conv2d_naive": source},
                            name="03_convolution.ipynb")
    report = grade_notebook(path, seed=11)
    conv = next(e for e in report.exercises if e.name == "conv2d_naive")
    assert conv.status == "failed", (seen, conv.message)
    assert "torch" in conv.message and "build yourself" in conv.message, conv.message
