"""Grade completed student notebooks, without trusting them.

    python -m course.grade PATH [PATH ...] [--json FILE] [--junit FILE] [--markdown FILE]
                           [--timeout SECONDS] [--fail-under SCORE] [--seed N]

Exit code: 0 when every notebook was graded (whatever the score), 1 below ``--fail-under``,
2 for wrong arguments, 3 when a notebook could not be read (all reports are still written).

How (README, "Grading", says the same for instructors):

1. The graded notebook is rebuilt from the course's own student notebook
   (``chapters/<same file name>``): only the learner's exercise cells are taken, matched by
   cell id, else by the function or class they define. Check cells, prose and everything
   else come from the course, so editing or deleting them changes nothing.
2. A fresh kernel runs, in the notebook's order and each with a timeout, the course's own
   setup before each exercise cell (its cheap definitions: imports, defs, classes, simple
   assignments; see :func:`setup_before_exercises`), the learner's exercise cell, and then,
   where the check cell stood, a small harness that calls the learner's function on cases
   drawn now from the seed and writes the results to a folder as JSON + ``.npz`` (no pickle).
3. This process — which never runs learner code — reads the results back, computes the
   references and compares. A timeout or a dead kernel costs the exercise affected; the
   kernel is restarted, the earlier cells replayed, and grading goes on.
4. Answers that use the op they are asked to build (found in the cell's source, or
   recorded at run time) fail, and so do cells that reach into the grader's own modules.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import queue
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course.exercise import (Case, Exercise, Result, exercises, forbidden_in_source, judge_case,
                             load, run_case, save, summarize)
from course.notebooks import CHAPTERS, defined_names
from course.source_names import import_bindings, names_used, parse

DEFAULT_TIMEOUT = 60.0
# Exit codes. Unfinished or wrong exercises are a grade, not a failure: 0 (unless --fail-under).
EXIT_BELOW = 1            # the total is below --fail-under
EXIT_USAGE = 2            # wrong arguments (argparse's own code)
EXIT_UNREADABLE = 3       # a notebook is not valid JSON / not a notebook / matches no chapter
# A crash of the grader itself ends with Python's traceback and exit code 1.
MAX_OUTPUT_KEPT = 2000            # characters of a cell's error kept for the message
# Modules a learner's cell may not touch: they are the grader's own.
# (course.check is not one: it only prints in the kernel, so a leftover `check.name(name)` line
# in an answer cell is harmless; what it exposes of these modules is caught by resolution.)
GRADER_MODULES = ("course.exercise", "course.exercises", "course.grade")


# --------------------------------------------------------------------------- report types

@dataclass
class ExerciseReport:
    id: str
    name: str
    points: int
    max_points: int
    status: str
    message: str
    hint: str = ""


@dataclass
class NotebookReport:
    notebook: str
    score: int = 0
    max_score: int = 0
    exercises: list[ExerciseReport] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0


# --------------------------------------------------------------------------- rebuilding

def exercise_cells(skeleton) -> list:
    """The skeleton's exercise cells, in order (the build tool tags them)."""
    return [c for c in skeleton.cells if c.cell_type == "code" and "course" in c.metadata]


def learner_sources(learner, skeleton) -> dict[str, str]:
    """exercise name -> the learner's source for that exercise's cell.

    Matched by cell id; a cell whose id is gone falls back to the last learner cell that
    defines the exercise's function or class. Missing cells keep the course's stub.
    """
    by_id = {c.get("id"): c for c in learner.get("cells", []) if c.get("cell_type") == "code"}
    sources = {}
    for cell in exercise_cells(skeleton):
        name = cell.metadata["course"]["name"]
        mine = by_id.get(cell.get("id"))
        if mine is None:
            defining = [c for c in learner.get("cells", []) if c.get("cell_type") == "code"
                        and name in defined_names(_text(c.get("source", "")))]
            mine = defining[-1] if defining else None
        sources[name] = _text(mine.get("source", "")) if mine is not None else cell.source
    return sources


def _text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def grader_modules_used(source: str, imports: dict[str, str] | None = None) -> dict[str, str]:
    """grader module -> how ``source`` reaches it: an import of it, a chain rooted at a name
    bound to it (``reference.x`` where the setup ran ``from course.exercises import ... as
    reference``, ``course.exercise.x``), or ``__import__`` / ``importlib`` naming it."""
    return names_used(source, GRADER_MODULES, imports)


# --------------------------------------------------------------------------- the course's setup

def _simple(node: ast.AST) -> bool:
    """An expression that only looks things up and combines them: no call, no loop."""
    if isinstance(node, ast.Lambda):
        return True                                   # its body runs only when called
    if isinstance(node, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr,
                         ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        return False
    return all(_simple(child) for child in ast.iter_child_nodes(node))


def _definition_like(stmt: ast.stmt, exercise_names: set[str]) -> bool:
    """Imports, defs, classes and assignments of simple expressions to plain names."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return stmt.name not in exercise_names
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = [n for t in targets for n in ast.walk(t)]
        if not all(isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Store, ast.Starred)) for n in names):
            return False                              # a.b = ..., x[i] = ...: mutates something
        bound = {n.id for n in names if isinstance(n, ast.Name)}
        return not bound & exercise_names and _simple(stmt.value)
    return False


@dataclass
class Setup:
    """The course's own setup that precedes one exercise cell of a chapter."""
    statements: list[str]            # sources of the definition-like statements, in order
    imports: dict[str, str]          # every name bound by import before the cell -> target


def names_loaded(source: str) -> set[str]:
    """Every plain name ``source`` reads (an over-estimate of the names it needs from outside)."""
    tree = parse(source)
    return set() if tree is None else {n.id for n in ast.walk(tree)
                                       if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _binds_plain_names(stmt: ast.stmt) -> set[str]:
    if not isinstance(stmt, (ast.Assign, ast.AnnAssign)) or stmt.value is None:
        return set()
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    nodes = [n for t in targets for n in ast.walk(t)]
    if not all(isinstance(n, (ast.Name, ast.Tuple, ast.List, ast.Store, ast.Starred)) for n in nodes):
        return set()
    return {n.id for n in nodes if isinstance(n, ast.Name)}


def setup_before_exercises(skeleton, include_grader_imports: bool = False,
                           uses: set[str] = frozenset()) -> dict[str, Setup]:
    """exercise name -> the setup to run before its cell, from the course's own notebook.

    A learner's cell sees what the cells before it defined: ``np``, ``F``, ``math``, helper
    functions, constants, ``device``. The grader cannot run those cells (they train models
    and take minutes), so before each exercise cell it replays, from the course's
    non-exercise code cells that precede it (never the learner's), only the cheap,
    definition-like top-level statements: imports, ``def``, ``class`` and assignments of
    simple expressions (no calls). From the notebook's first code cell (its setup: imports,
    ``device = get_device()``, a data set) an assignment that calls something is replayed too
    when it binds a name in ``uses``, the names the learner's cells read.
    Imports of the grader's own modules are left out unless ``include_grader_imports``.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    names = {c.metadata["course"]["name"] for c in exercise_cells(skeleton)}
    setups: dict[str, Setup] = {}
    pending: list[str] = []
    imports: dict[str, str] = {}
    first = True
    for cell in skeleton.cells:
        if cell.cell_type != "code":
            continue
        if "course" in cell.metadata:
            setups[cell.metadata["course"]["name"]] = Setup(pending, dict(imports))
            pending, first = [], False
            continue
        text = transform(_text(cell.source))
        tree = parse(text)
        if tree is None:
            first = False
            continue
        for stmt in tree.body:
            wanted = first and _binds_plain_names(stmt) & (set(uses) - names)
            if not (_definition_like(stmt, names) or wanted):
                continue
            bound = import_bindings(stmt)
            imports.update(bound)
            if bound and not include_grader_imports and any(
                    target == m or target.startswith(m + ".") for target in bound.values()
                    for m in GRADER_MODULES):
                continue
            pending.append(ast.get_source_segment(text, stmt) or ast.unparse(stmt))
        first = False
    return setups


def setup_code(statements: list[str]) -> str:
    """Kernel code that runs each statement in the notebook's namespace, errors ignored."""
    return ("for __course_statement in " + repr(statements) + ":\n"
            "    try:\n"
            "        exec(__course_statement, globals())\n"
            "    except Exception:\n"
            "        pass\n"
            "__course_statement = None\n"
            "del __course_statement\n")


# --------------------------------------------------------------------------- the kernel

class Kernel:
    """A fresh IPython kernel that runs code with a timeout and discards its output."""

    def __init__(self, workdir: Path):
        from jupyter_client import KernelManager

        env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]))
        env.pop("COURSE_SMOKE", None)
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(workdir), env=env, stderr=subprocess.DEVNULL)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def run(self, code: str, timeout: float) -> tuple[str, str]:
        """Execute ``code``: ("ok" | "error" | "timeout" | "died", error text)."""
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        deadline = time.monotonic() + timeout
        error = ""
        while True:
            if time.monotonic() > deadline:
                return "timeout", ""
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                if not self.km.is_alive():
                    return "died", ""
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "error":
                error = f"{msg['content']['ename']}: {msg['content']['evalue']}"[:MAX_OUTPUT_KEPT]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                return ("error" if error else "ok"), error

    def interrupt(self) -> bool:
        """Interrupt the running cell; True if the kernel answers again within 10 s."""
        self.km.interrupt_kernel()
        status, _ = self.run("pass", timeout=10)
        return status == "ok"

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
            self.km.shutdown_kernel(now=True)
        except Exception:
            pass


# --------------------------------------------------------------------------- kernel side

def kernel_side(name: str, folder: str) -> None:
    """Runs inside the kernel: call the learner's ``name`` on the cases, save the reports."""
    from IPython import get_ipython

    exercise = exercises()[name]
    cases = [Case(label, inputs) for label, inputs in load(Path(folder) / f"{name}.cases.json")]
    answer = get_ipython().user_ns.get(name)
    if answer is None:
        reports = [{"status": "raised", "output": None, "used": [], "mutated": [],
                    "error": f"NameError: {name} is not defined"}] * len(cases)
    else:
        reports = [run_case(exercise, answer, case) for case in cases]
    save(reports, Path(folder) / f"{name}.reports.json")


def _harness(name: str, folder: Path) -> str:
    return f"__import__('course.grade', fromlist=['_']).kernel_side({name!r}, {str(folder)!r})"


# --------------------------------------------------------------------------- grading

def _valid_report(r) -> bool:
    return (isinstance(r, dict) and r.get("status") in ("ok", "not_implemented", "raised")
            and isinstance(r.get("used"), list) and isinstance(r.get("mutated"), list)
            and isinstance(r.get("error"), str) and "output" in r)


def _judge(exercise: Exercise, cases: list[Case], source: str, folder: Path,
           imports: dict[str, str] | None = None) -> Result:
    """Compare the kernel's reports with the references, in this process."""
    path = folder / f"{exercise.name}.reports.json"
    try:
        reports = load(path)
    except Exception as e:
        return Result("error", f"no readable results from the kernel ({type(e).__name__}).")
    if not isinstance(reports, list) or len(reports) != len(cases) \
            or not all(_valid_report(r) for r in reports):
        return Result("error", "the results written in the kernel are malformed.")
    verdicts = []
    for case, report in zip(cases, reports):
        try:
            verdicts.append(judge_case(exercise, case, report))
        except Exception as e:    # a learner output that breaks a judge is a wrong output
            verdicts.append(("failed", f"case '{case.label}': output could not be checked "
                             f"({type(e).__name__}).", exercise.hint))
        if verdicts[-1][0] != "passed":
            break
    found = forbidden_in_source(source, exercise.forbidden, imports) if exercise.forbidden else []
    return summarize(exercise, cases, verdicts, found)


def grade_notebook(path: Path, seed: int, timeout: float = DEFAULT_TIMEOUT,
                   reference_dir: Path = CHAPTERS) -> NotebookReport:
    """Grade one learner notebook; never modifies it."""
    start = time.monotonic()
    report = NotebookReport(notebook=str(path))
    reference = reference_dir / path.name
    if not reference.exists():
        report.error = f"no chapter named {path.name} in the course"
        return report
    skeleton = nbformat.read(reference, as_version=4)
    cells = exercise_cells(skeleton)
    specs = [exercises()[c.metadata["course"]["name"]] for c in cells]
    report.max_score = sum(ex.points for ex in specs)
    results: dict[str, Result] = {}

    try:
        learner = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(learner, dict) or not isinstance(learner.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as e:
        why = "not valid JSON" if isinstance(e, json.JSONDecodeError) else f"not a notebook ({e})"
        report.error = f"{path.name} is {why}"
        for ex in specs:
            results[ex.name] = Result("error", f"could not read the notebook: {why}.")
        return _finish(report, specs, results, start)

    sources = learner_sources(learner, skeleton)
    setups = setup_before_exercises(skeleton, uses=set().union(*map(names_loaded, sources.values())))
    folder = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        _run_in_kernel(specs, sources, setups, folder, seed, timeout, results)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return _finish(report, specs, results, start)


def _run_in_kernel(specs, sources, setups, folder, seed, timeout, results) -> None:
    cases = {ex.name: ex.cases(seed) for ex in specs}
    imports: dict[str, dict[str, str]] = {}      # what names mean before each exercise cell
    earlier: dict[str, str] = {}                 # ... as bound by the learner's earlier cells
    for ex in specs:
        save([[c.label, c.inputs] for c in cases[ex.name]], folder / f"{ex.name}.cases.json")
        imports[ex.name] = {**setups[ex.name].imports, **earlier}
        tree = parse(sources[ex.name])
        earlier.update(import_bindings(tree) if tree is not None else {})
        reached = grader_modules_used(sources[ex.name], imports[ex.name])
        if reached:
            how = "; ".join(f"`{text}` reaches {module}" for module, text in reached.items())
            results[ex.name] = Result("failed", f"this cell uses the grader's own code ({how}); "
                                      "answers may not touch course.exercise, course.exercises "
                                      "(the references) or course.grade.",
                                      "Remove that line; your cell needs only your own code.")
    history: list[str] = []          # setup and exercise cells that ran, to replay after a crash
    kernel = Kernel(folder)

    def restart():
        nonlocal kernel
        kernel.shutdown()
        kernel = Kernel(folder)
        for code in history:
            kernel.run(code, timeout)

    try:
        for ex in specs:      # as in the notebook: the course's setup, the answer cell, its check
            if setups[ex.name].statements:
                code = setup_code(setups[ex.name].statements)
                status, _ = kernel.run(code, timeout)
                if status == "timeout" and not kernel.interrupt() or status == "died":
                    restart()
                history.append(code)
            if ex.name in results:
                continue
            status, error = kernel.run(sources[ex.name], timeout)       # 1. the learner's cell
            if status in ("ok", "error"):
                history.append(sources[ex.name])  # a cell that fails may still define the answer
            elif status == "timeout":
                results[ex.name] = Result("timeout", f"your cell ran over {timeout:g} s.")
                if not kernel.interrupt():
                    restart()
                continue
            else:
                results[ex.name] = Result("error", "the kernel died while running your cell.")
                restart()
                continue
            cell_error = error
            status, error = kernel.run(_harness(ex.name, folder), timeout)   # 2. the harness
            if status == "ok":
                results[ex.name] = _judge(ex, cases[ex.name], sources[ex.name], folder,
                                          imports[ex.name])
                if cell_error and "is not defined" in results[ex.name].message:
                    results[ex.name] = Result("error", f"your cell raised {cell_error}")
            elif status == "timeout":
                results[ex.name] = Result("timeout", f"your {ex.name} ran over {timeout:g} s "
                                          "on the grading cases.")
                if not kernel.interrupt():
                    restart()
            elif status == "died":
                results[ex.name] = Result("error", f"the kernel died while running your {ex.name}.")
                restart()
            else:
                results[ex.name] = Result("error", f"grading {ex.name} failed in the kernel: {error}")
    finally:
        kernel.shutdown()


def _finish(report: NotebookReport, specs, results, start) -> NotebookReport:
    for ex in specs:
        r = results.get(ex.name) or Result("error", "not graded.")
        points = ex.points if r.status == "passed" else 0
        report.exercises.append(ExerciseReport(ex.id, ex.name, points, ex.points, r.status,
                                               r.message, r.hint or ""))
    report.score = sum(e.points for e in report.exercises)
    report.seconds = round(time.monotonic() - start, 1)
    return report


# --------------------------------------------------------------------------- reports

def as_json(reports: list[NotebookReport], seed: int) -> dict:
    return {"score": sum(r.score for r in reports), "max_score": sum(r.max_score for r in reports),
            "seed": seed, "notebooks": [asdict(r) for r in reports]}


def as_table(report: NotebookReport) -> str:
    lines = [f"{report.notebook}: {report.score}/{report.max_score} points"
             + (f"  ({report.error})" if report.error else "")]
    rows = [("exercise", "name", "points", "status", "message")]
    rows += [(e.id, e.name, f"{e.points}/{e.max_points}", e.status,
              e.message + (f" Hint: {e.hint}" if e.hint and e.status == "failed" else ""))
             for e in report.exercises]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        lines.append("  " + "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return "\n".join(lines)


def as_junit(reports: list[NotebookReport]) -> str:
    suites = ET.Element("testsuites", name="course.grade")
    for r in reports:
        failures = sum(e.status in ("failed", "not_implemented", "timeout") for e in r.exercises)
        errors = sum(e.status == "error" for e in r.exercises)
        suite = ET.SubElement(suites, "testsuite", name=r.notebook, tests=str(len(r.exercises)),
                              failures=str(failures), errors=str(errors), time=str(r.seconds))
        for e in r.exercises:
            case = ET.SubElement(suite, "testcase", classname=Path(r.notebook).stem,
                                 name=f"{e.id} {e.name}")
            if e.status == "error":
                ET.SubElement(case, "error", message=e.message, type=e.status).text = e.message
            elif e.status != "passed":
                ET.SubElement(case, "failure", message=e.message, type=e.status).text = \
                    e.message + (f"\nHint: {e.hint}" if e.hint else "")
    return ET.tostring(suites, encoding="unicode", xml_declaration=True)


ICONS = {"passed": "✅", "failed": "❌", "not_implemented": "⏳", "timeout": "⌛", "error": "💥"}


def as_markdown(reports: list[NotebookReport]) -> str:
    total = sum(r.score for r in reports)
    most = sum(r.max_score for r in reports)
    out = [f"## Grading: {total}/{most} points", ""]
    for r in reports:
        out += [f"### `{r.notebook}` — {r.score}/{r.max_score}", ""]
        if r.error:
            out += [f"> {r.error}", ""]
        out += ["| exercise | name | points | status | message |", "|---|---|---|---|---|"]
        for e in r.exercises:
            msg = e.message.replace("|", "\\|").replace("\n", " ")
            out.append(f"| {e.id} | `{e.name}` | {e.points}/{e.max_points} | "
                       f"{ICONS[e.status]} {e.status} | {msg} |")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------- command line

class _Parser(argparse.ArgumentParser):
    def error(self, message):                      # one line, exit 2
        self.exit(2, f"course.grade: error: {message}\n")


def notebooks_in(paths: list[str]) -> list[Path]:
    found = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
        else:
            found.append(p)
    return found


def _score_threshold(text: str, max_score: int) -> float:
    return float(text[:-1]) / 100 * max_score if text.endswith("%") else float(text)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m course.grade", description="Grade student notebooks.",
                     epilog="exit code: 0 every notebook graded (whatever the score), 1 total "
                            "below --fail-under, 2 wrong arguments, 3 a notebook could not be read")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a notebook or a folder of them")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--junit", metavar="FILE")
    parser.add_argument("--markdown", metavar="FILE")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"per cell (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--fail-under", metavar="SCORE",
                        help="exit 1 if the total is below SCORE points (or SCORE%% of the maximum)")
    parser.add_argument("--seed", type=int, help="cases' seed (default: a new one each run)")
    args = parser.parse_args(argv)

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        parser.error(f"no such file or folder: {missing[0]}")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.fail_under is not None:
        try:
            _score_threshold(args.fail_under, 1)
        except ValueError:
            parser.error(f"--fail-under wants a number or a percentage, not {args.fail_under!r}")
    paths = notebooks_in(args.paths)
    if not paths:
        parser.error("no notebooks found")
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)

    reports = []
    for path in paths:
        report = grade_notebook(path, seed, args.timeout)
        print(as_table(report), flush=True)
        reports.append(report)
    data = as_json(reports, seed)
    print(f"total: {data['score']}/{data['max_score']} points (seed {seed})")
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2, ensure_ascii=False))
    if args.junit:
        Path(args.junit).write_text(as_junit(reports))
    if args.markdown:
        Path(args.markdown).write_text(as_markdown(reports))
    unreadable = [r for r in reports if r.error]
    if unreadable:             # every report is written first; then the job should fail
        print(f"course.grade: {len(unreadable)} notebook(s) could not be graded: "
              + "; ".join(r.error for r in unreadable), file=sys.stderr)
        return EXIT_UNREADABLE
    if args.fail_under is not None and data["score"] < _score_threshold(args.fail_under,
                                                                        data["max_score"]):
        return EXIT_BELOW
    return 0


if __name__ == "__main__":
    sys.exit(main())
