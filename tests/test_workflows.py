"""The CI workflows parse, and call commands and options that exist."""
import re
import shlex
import subprocess
import sys

import yaml

from tests.helpers import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def run_lines(name):
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    steps = [s for job in data["jobs"].values() for s in job["steps"]]
    return data, [line.strip() for s in steps if "run" in s for line in s["run"].splitlines()]


def test_tests_workflow_runs_the_readme_test_command():
    data, lines = run_lines("tests.yml")
    assert True in data or "on" in data                  # YAML 1.1 reads `on:` as True
    assert "pytest" in lines
    assert "pip install -r requirements.txt" in lines
    assert "pytest" in (ROOT / "README.md").read_text()


def test_grade_workflow_calls_the_grader_with_options_it_has():
    _, lines = run_lines("grade.yml")
    grade = [l for l in lines if l.startswith("python -m course.grade")]
    assert grade, lines
    usage = subprocess.run([sys.executable, "-m", "course.grade", "--help"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout
    for line in grade:
        args = shlex.split(line)[3:]
        for option in (a for a in args if a.startswith("--")):
            assert option in usage, option
        paths = [a for a in args if not a.startswith("-") and not re.search(r"\.(json|xml|md)$", a)]
        assert all((ROOT / p).exists() for p in paths), paths
    assert any("GITHUB_STEP_SUMMARY" in l and "grade.md" in l for l in lines)
    assert "rm -rf solutions" in lines
