"""Test-suite settings shared by tests/ and the nbval run of solutions/."""
import os
from collections import defaultdict

# Two workers on two cores: one thread each, or torch processes slow each other down.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

# A solution notebook must execute within this many seconds under the test suite's load
# (COURSE.md §11 asks for about a minute on its own on 2 cores; two run at once here).
NOTEBOOK_BUDGET_SECONDS = float(os.environ.get("COURSE_NOTEBOOK_BUDGET", "150"))

_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _notebook_seconds:
        return
    terminalreporter.section("notebook execution times (nbval)")
    for path, seconds in sorted(_notebook_seconds.items()):
        flag = "  OVER BUDGET" if seconds > NOTEBOOK_BUDGET_SECONDS else ""
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}{flag}")


def pytest_sessionfinish(session, exitstatus):
    over = [p for p, s in _notebook_seconds.items() if s > NOTEBOOK_BUDGET_SECONDS]
    if over and session.exitstatus == 0:
        session.exitstatus = 1
