"""ruff (pinned in requirements.txt, configured in pyproject.toml) finds nothing in the
course's code, its tests and every notebook, solutions and student versions alike."""
import shutil
import subprocess
import sys

from tests.helpers import ROOT

PATHS = ["course", "tests", "solutions", "chapters"]


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff") or str(ROOT / ".venv" / "bin" / "ruff")
    command = [ruff] if shutil.which(ruff) else [sys.executable, "-m", "ruff"]
    proc = subprocess.run([*command, "check", "--no-cache", "--output-format", "concise", *PATHS],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
