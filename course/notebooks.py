"""One source per chapter: write the student notebooks in chapters/ from solutions/.

    python -m course.notebooks build     # write chapters/NN_*.ipynb
    python -m course.notebooks check     # exit 1, naming the files, if chapters/ is stale

In a solution notebook, an exercise's answer sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` lines in the code cell that defines the exercise's function or class.
The student version replaces each such region with
``raise NotImplementedError("Exercise N.M: name")`` at the marker's indentation, drops
cells tagged ``hidden-test``, clears outputs and execution counts, keeps cell ids, and
records which exercise a cell holds in ``cell.metadata["course"]`` (the grader reads it).
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
CHAPTERS = ROOT / "chapters"

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HIDDEN_TAG = "hidden-test"
_MARKER = re.compile(r"^(\s*)(### (?:BEGIN|END) SOLUTION)\s*$")


class MalformedNotebook(ValueError):
    pass


def strip_solutions(source: str, label: str, where: str = "cell") -> str:
    """Replace every solution region of ``source`` with a ``raise NotImplementedError``."""
    out: list[str] = []
    inside_since: int | None = None
    for number, line in enumerate(source.split("\n"), 1):
        m = _MARKER.match(line)
        if m and m.group(2) == BEGIN:
            if inside_since is not None:
                raise MalformedNotebook(f"{where}: line {number} opens a solution region "
                                        f"inside the one opened on line {inside_since}")
            inside_since = number
            out.append(f'{m.group(1)}raise NotImplementedError("{label}")')
        elif m:
            if inside_since is None:
                raise MalformedNotebook(f"{where}: line {number} closes a solution region "
                                        "that was never opened")
            inside_since = None
        elif BEGIN in line or END in line:
            raise MalformedNotebook(f"{where}: line {number}: a solution marker must stand "
                                    "alone on its line")
        elif inside_since is None:
            out.append(line)
    if inside_since is not None:
        raise MalformedNotebook(f"{where}: the solution region opened on line {inside_since} "
                                f"has no '{END}'")
    return "\n".join(out)


def defined_names(source: str) -> list[str]:
    """Top-level functions and classes that ``source`` defines."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n.name for n in tree.body
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _exercise_of(source: str, where: str):
    from course.exercise import exercises

    names = [n for n in defined_names(source) if n in exercises()]
    if len(names) != 1:
        found = ", ".join(names) or "none"
        raise MalformedNotebook(f"{where}: a cell with a solution region must define exactly "
                                f"one exercise of the course (found: {found})")
    return exercises()[names[0]]


def student_version(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student notebook for a solution notebook (the solution is not modified)."""
    nb = nbformat.from_dict(solution)
    nb = nbformat.from_dict(nbformat.reads(nbformat.writes(nb), as_version=4))
    cells = []
    for index, cell in enumerate(nb.cells):
        where = f"{name} cell {index} (id {cell.get('id', '?')})"
        if HIDDEN_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        cell.metadata.pop("course", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
            if BEGIN in cell.source or END in cell.source:
                strip_solutions(cell.source, "", where)          # markers well formed?
                exercise = _exercise_of(cell.source, where)
                cell.source = strip_solutions(cell.source, f"Exercise {exercise.id}: "
                                              f"{exercise.name}", where)
                cell.metadata["course"] = {"exercise": exercise.id, "name": exercise.name}
        cells.append(cell)
    nb.cells = cells
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def expected_chapters() -> dict[Path, str]:
    """chapters/NAME.ipynb -> the text it should have."""
    result = {}
    for path in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        result[CHAPTERS / path.name] = render(student_version(nb, path.name))
    return result


def build() -> list[Path]:
    CHAPTERS.mkdir(exist_ok=True)
    written = []
    for path, text in expected_chapters().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path)
    return written


def stale() -> list[str]:
    """Names of chapter files that differ from what build() would write, or have no source."""
    expected = expected_chapters()
    problems = [f"{p.name}: out of date" for p, text in expected.items()
                if not p.exists() or p.read_text() != text]
    problems += [f"{p.name}: no solutions/{p.name} to build it from"
                 for p in sorted(CHAPTERS.glob("*.ipynb")) if p not in expected]
    return problems


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["build"], ["check"]):
        print("usage: python -m course.notebooks build|check", file=sys.stderr)
        return 2
    try:
        if args == ["build"]:
            for p in build():
                print(f"wrote {p.parent.name}/{p.name}")
            return 0
        problems = stale()
    except MalformedNotebook as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for p in problems:
        print(f"chapters/{p}; run: python -m course.notebooks build")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
