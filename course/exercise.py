"""Exercises as data, split so that the grader can run each half in a different process.

An :class:`Exercise` is three functions:

- ``make_cases(rng) -> list[Case]``: test inputs drawn from a seeded NumPy generator
  (plain data: arrays, numbers, strings, lists and dicts of them);
- ``call(answer, **inputs) -> output``: runs the learner's function or class on one case.
  This is the only part that touches learner code; the grader runs it inside the kernel;
- ``judge(inputs, output)``: computes the reference with an oracle (PyTorch, autograd, a
  closed form) and compares; raises :class:`Wrong` when the output is not right.

Outputs cross the process boundary through :func:`encode` / :func:`decode`, which keep
only plain data, so ``judge`` sees the same thing in the notebook and in the grader.
"""
from __future__ import annotations

import contextlib
import copy
import importlib
import json
import sys
import traceback
import types
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

import numpy as np

from course.source_names import names_used, resolve

STATUSES = ("passed", "failed", "not_implemented", "timeout", "error")


class Wrong(Exception):
    """Raised by a judge: ``message`` says what is wrong, ``hint`` what to look at."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class Case:
    label: str                 # shown to the learner, e.g. "stride 2, padding 1"
    inputs: dict[str, Any]     # keyword arguments for ``call``


def call_function(answer: Callable, **inputs: Any) -> Any:
    """The usual ``call``: the answer is a function taking the case's inputs."""
    return answer(**inputs)


@dataclass(frozen=True)
class Exercise:
    id: str                                        # "3.1"
    name: str                                      # the contract name from COURSE.md §9
    make_cases: Callable[[np.random.Generator], list[Case]]
    judge: Callable[[dict, Any], None]             # raises Wrong
    hint: str                                      # for the commonest mistake
    call: Callable[..., Any] = call_function       # call(answer, **case.inputs) -> output
    summary: str = ""                              # what passing covers, e.g. "incl. stride 2"
    forbidden: tuple[str, ...] = ()                # dotted names the answer may not use
    points: int = 1

    def cases(self, seed: int) -> list[Case]:
        """The cases for ``seed``; each exercise draws from its own stream."""
        return self.make_cases(np.random.default_rng([seed, zlib.crc32(self.name.encode())]))


@dataclass
class Result:
    status: str                # one of STATUSES
    message: str
    hint: str | None = None
    cases_passed: int = 0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# --------------------------------------------------------------------------- registry

REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    if exercise.name in REGISTRY:
        raise ValueError(f"exercise {exercise.name!r} registered twice")
    REGISTRY[exercise.name] = exercise
    return exercise


def exercises() -> dict[str, Exercise]:
    """Every exercise of the course, by name (imports the chapter modules once)."""
    importlib.import_module("course.exercises")
    return REGISTRY


def by_id(exercise_id: str) -> Exercise:
    for ex in exercises().values():
        if ex.id == exercise_id:
            return ex
    raise KeyError(exercise_id)


# --------------------------------------------------------------------------- plain data

@dataclass
class TensorData:
    """A torch.Tensor the learner returned, as data."""
    array: np.ndarray
    dtype: str                 # e.g. "torch.float32"
    requires_grad: bool = False


@dataclass
class Foreign:
    """A value of a type that is not plain data (a list of tensors is fine, a module is not)."""
    type_name: str
    text: str


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def encode(obj: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """Turn ``obj`` into JSON-able data, moving arrays into ``arrays``."""
    if depth > 20:
        return {"__foreign__": "deeply nested value", "text": ""}
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int) and type(obj) is int:
        return obj
    if type(obj) is float:
        return {"__float__": repr(obj)}            # keeps nan and inf exact
    if isinstance(obj, np.ndarray) or isinstance(obj, np.generic):
        arr = np.asarray(obj)
        if arr.dtype.kind not in "biufc":
            return {"__foreign__": f"numpy array of dtype {arr.dtype}", "text": ""}
        key = f"a{len(arrays)}"
        arrays[key] = arr
        return {"__array__": key, "scalar": isinstance(obj, np.generic)}
    if type(obj).__module__.startswith("torch") and type(obj).__name__ in ("Tensor", "Parameter"):
        key = f"a{len(arrays)}"
        t = obj.detach().cpu()
        try:
            arrays[key] = t.numpy()
        except (TypeError, RuntimeError):         # e.g. bfloat16 has no NumPy dtype
            arrays[key] = t.double().numpy()
        return {"__tensor__": key, "dtype": str(obj.dtype), "requires_grad": bool(obj.requires_grad)}
    if isinstance(obj, (list, tuple)):             # incl. subclasses: a namedtuple is a tuple
        items = [encode(x, arrays, depth + 1) for x in obj]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, dict) and all(isinstance(k, str) for k in obj):
        return {"__dict__": [[k, encode(v, arrays, depth + 1)] for k, v in obj.items()]}
    try:
        text = repr(obj)[:200]
    except Exception:                               # a learner's __repr__ may raise
        text = ""
    return {"__foreign__": _type_name(obj), "text": text}


def decode(data: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(data, list):
        return [decode(x, arrays) for x in data]
    if not isinstance(data, dict):
        return data
    if "__float__" in data:
        return float(data["__float__"])
    if "__array__" in data:
        arr = arrays[data["__array__"]]
        return arr[()] if data.get("scalar") else arr
    if "__tensor__" in data:
        return TensorData(arrays[data["__tensor__"]], data["dtype"], data["requires_grad"])
    if "__tuple__" in data:
        return tuple(decode(x, arrays) for x in data["__tuple__"])
    if "__dict__" in data:
        return {k: decode(v, arrays) for k, v in data["__dict__"]}
    if "__foreign__" in data:
        return Foreign(data["__foreign__"], data.get("text", ""))
    raise ValueError("unknown encoded value")


def roundtrip(obj: Any) -> Any:
    """What the judge sees of ``obj`` (the same in the notebook and in the grader)."""
    arrays: dict[str, np.ndarray] = {}
    data = json.loads(json.dumps(encode(obj, arrays)))
    return decode(data, {k: np.array(v, copy=True) for k, v in arrays.items()})


def save(obj: Any, path: Path) -> None:
    """Write plain data to ``path`` (.json) and its arrays beside it (.npz)."""
    arrays: dict[str, np.ndarray] = {}
    Path(path).write_text(json.dumps(encode(obj, arrays)))
    np.savez(Path(path).with_suffix(".npz"), **arrays)


def load(path: Path, max_bytes: int = 512 * 2**20) -> Any:
    """Read what :func:`save` wrote. Never unpickles: safe on files written by learner code."""
    path = Path(path)
    npz = path.with_suffix(".npz")
    for p in (path, npz):
        if p.stat().st_size > max_bytes:
            raise ValueError(f"{p.name} is larger than {max_bytes} bytes")
    with np.load(npz, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    return decode(json.loads(path.read_text()), arrays)


# --------------------------------------------------------------------------- forbidden ops

def _is_module(dotted: str) -> bool:
    try:
        importlib.import_module(dotted)
        return True
    except ImportError:
        return False


def forbidden_in_source(source: str, forbidden: tuple[str, ...], imports: dict[str, str] | None = None,
                        namespace: dict | None = None) -> list[str]:
    """The forbidden names that ``source`` uses (a static check; see README, Grading).

    Only names that resolve to a forbidden module or function count: ``F.conv2d`` after
    ``import torch.nn.functional as F``, ``torch.conv2d`` (the same function), a name
    imported from it. A name the cell binds itself (``self.softmax``, a local ``conv2d``) does
    not: the run-time check (:func:`watch_calls`) sees what it really calls. Names the cell
    does not bind resolve through ``imports`` (the imports that ran before it, when grading)
    or ``namespace`` (the notebook's globals, for the instant check).
    """
    return list(names_used(source, forbidden, imports, namespace))


def _watch_tensor_method(name: str, attr: str, used: list[str]) -> list[Callable]:
    """``torch.log_softmax`` is also ``z.log_softmax()``: watch the Tensor method of that name.

    Only for ops that torch has at its top level under the same name (``torch.log_softmax``),
    so a Tensor method with another meaning (``Tensor.unfold``) is never counted.
    """
    if not name.startswith("torch."):
        return []
    torch = importlib.import_module("torch")
    method = getattr(torch.Tensor, attr, None)
    if method is None or getattr(torch, attr, None) is None:
        return []
    own = attr in torch.Tensor.__dict__

    def wrapper(self, *a, __name=name, __orig=method, **k):
        used.append(__name)
        return __orig(self, *a, **k)

    setattr(torch.Tensor, attr, wrapper)
    return [lambda: setattr(torch.Tensor, attr, method) if own else delattr(torch.Tensor, attr)]


@contextlib.contextmanager
def watch_calls(forbidden: tuple[str, ...]):
    """Record calls of the forbidden functions and classes while the learner's code runs."""
    used: list[str] = []
    undo = []
    for name in forbidden:
        if _is_module(name) or "." not in name:     # a module, or a package not installed
            continue
        parent_name, attr = name.rsplit(".", 1)
        parent = resolve(parent_name)
        target = getattr(parent, attr, None) if parent is not None else None
        if target is None:
            continue
        if isinstance(target, type):
            original_init = target.__dict__.get("__init__")

            def init(self, *a, __name=name, __orig=target.__init__, **k):
                used.append(__name)
                return __orig(self, *a, **k)

            target.__init__ = init
            undo.append((lambda t=target, o=original_init: setattr(t, "__init__", o) if o
                         else delattr(t, "__init__")))
        elif callable(target):
            def wrapper(*a, __name=name, __orig=target, **k):
                used.append(__name)
                return __orig(*a, **k)

            setattr(parent, attr, wrapper)
            undo.append(lambda p=parent, a=attr, t=target: setattr(p, a, t))
            undo += _watch_tensor_method(name, attr, used)
    try:
        yield used
    finally:
        for fn in reversed(undo):
            fn()


# --------------------------------------------------------------------------- running a case

def _learner_frame(tb) -> str:
    """'line N' of the deepest frame that is learner code (a notebook cell), if any."""
    where = ""
    for frame in traceback.extract_tb(tb):
        if "ipykernel" in frame.filename or frame.filename.startswith("<"):
            where = f" (line {frame.lineno} of your cell)"
    return where


def _snapshot(inputs: dict) -> dict:
    return {k: np.array(v, copy=True) for k, v in inputs.items() if isinstance(v, np.ndarray)}


def run_case(exercise: Exercise, answer: Any, case: Case) -> dict:
    """Call the learner's answer on one case. Runs where the learner's code runs.

    Returns plain data: {"status": "ok" | "not_implemented" | "raised", "output", "error",
    "used": forbidden names called, "mutated": inputs changed in place}.
    """
    inputs = copy.deepcopy(case.inputs)
    before = _snapshot(inputs)
    report: dict[str, Any] = {"status": "ok", "output": None, "error": "", "used": [], "mutated": []}
    with watch_calls(exercise.forbidden) as used:
        try:
            report["output"] = exercise.call(answer, **inputs)
        except NotImplementedError as e:
            report["status"] = "not_implemented"
            report["error"] = str(e)
        except Exception as e:   # the learner's bug, reported in one line
            report["status"] = "raised"
            report["error"] = f"{type(e).__name__}: {e}"[:300] + _learner_frame(e.__traceback__)
    report["used"] = sorted(set(used))
    report["mutated"] = [k for k, v in before.items()
                         if not (v.shape == np.shape(inputs[k]) and np.array_equal(v, inputs[k], equal_nan=True))]
    return report


def judge_case(exercise: Exercise, case: Case, report: dict) -> tuple[str, str, str | None]:
    """(status, message, hint) for one case report. Runs in the grader's own process."""
    if report["status"] == "not_implemented":
        return "not_implemented", "not implemented yet.", None
    if report["used"]:
        names = ", ".join(report["used"])
        return ("failed", f"calls {names}, which this exercise asks you to build yourself.",
                "Write it from the equation, with the operations the exercise allows.")
    if report["status"] == "raised":
        return "failed", f"case '{case.label}' raised {report['error']}", exercise.hint
    if report["mutated"]:
        return ("failed", f"case '{case.label}': your code changed its input "
                f"`{report['mutated'][0]}` in place.", "Work on a copy (x = x.copy()) or build new arrays.")
    try:
        exercise.judge(case.inputs, report["output"])
    except Wrong as w:
        return "failed", f"case '{case.label}': {w.message}", w.hint or exercise.hint
    return "passed", "", None


def summarize(exercise: Exercise, cases: list[Case], verdicts: list[tuple[str, str, str | None]],
              forbidden_found: list[str] = ()) -> Result:
    """One result for the exercise from the verdicts of its cases (first problem wins)."""
    if forbidden_found and not any(s == "not_implemented" for s, _, _ in verdicts[:1]):
        return Result("failed", f"uses {', '.join(forbidden_found)}, which this exercise asks "
                      "you to build yourself.", "Write it from the equation, with the operations "
                      "the exercise allows.")
    for status, message, hint in verdicts:
        if status != "passed":
            return Result(status, message, hint, sum(s == "passed" for s, _, _ in verdicts))
    extra = f", {exercise.summary}" if exercise.summary else ""
    return Result("passed", f"passed {len(cases)} cases{extra}.", None, len(cases))


def source_of(answer: Any) -> str:
    """Best-effort source of a function or class defined in a notebook."""
    import inspect
    import textwrap
    try:
        return textwrap.dedent(inspect.getsource(answer))
    except (OSError, TypeError):
        pass
    if isinstance(answer, type):
        parts = []
        for v in vars(answer).values():
            if isinstance(v, (types.FunctionType, staticmethod, classmethod, property)):
                fn = getattr(v, "__func__", None) or getattr(v, "fget", None) or v
                with contextlib.suppress(OSError, TypeError):
                    parts.append(textwrap.dedent(inspect.getsource(fn)))
        return "\n".join(parts)
    return ""


def namespace_of(answer: Any) -> dict:
    """The globals the learner's function or class sees (the notebook's, in a notebook)."""
    if isinstance(answer, type):
        for value in vars(answer).values():
            fn = getattr(value, "__func__", value)
            if isinstance(fn, types.FunctionType):
                return fn.__globals__
        module = sys.modules.get(answer.__module__)
        return vars(module) if module is not None else {}
    return getattr(answer, "__globals__", None) or {}


def evaluate(exercise: Exercise, answer: Any, seed: int = 0) -> Result:
    """Run every case in this process: the notebook's instant check."""
    cases = exercise.cases(seed)
    found = forbidden_in_source(source_of(answer), exercise.forbidden, namespace=namespace_of(answer)) \
        if exercise.forbidden else []
    verdicts = []
    for case in cases:
        report = run_case(exercise, answer, case)
        report["output"] = roundtrip(report["output"])
        verdicts.append(judge_case(exercise, case, report))
        if verdicts[-1][0] != "passed":
            break
    return summarize(exercise, cases, verdicts, found)


# --------------------------------------------------------------------------- judge helpers

def describe(value: Any) -> str:
    if isinstance(value, TensorData):
        return "a torch.Tensor"
    if isinstance(value, Foreign):
        return f"a {value.type_name}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"a {type(value).__name__}" if value is not None else "None"


def expect_array(got: Any, ref: np.ndarray, what: str = "output", rtol: float = 1e-6,
                 atol: float = 1e-8, dtype_kind: str = "f") -> np.ndarray:
    """Check that ``got`` is a NumPy array like ``ref``; raise :class:`Wrong` saying how not."""
    ref = np.asarray(ref)
    if isinstance(got, TensorData):
        raise Wrong(f"{what} is a torch.Tensor; this exercise is NumPy in, NumPy out.",
                    "Use NumPy operations (np.*) throughout, or return t.numpy().")
    if not isinstance(got, np.ndarray):
        raise Wrong(f"{what} is {describe(got)}, expected a NumPy array of shape {ref.shape}.",
                    "Did you forget a return statement, or return a list?")
    if got.shape != ref.shape:
        raise Wrong(f"{what} has shape {got.shape}, expected {ref.shape}.")
    if dtype_kind == "f" and got.dtype.kind != "f":
        raise Wrong(f"{what} has dtype {got.dtype}, expected a floating dtype ({ref.dtype}).",
                    "Integer arithmetic truncates; start from float arrays.")
    if dtype_kind == "b" and got.dtype != np.bool_:
        raise Wrong(f"{what} has dtype {got.dtype}, expected bool.")
    if dtype_kind == "i" and got.dtype.kind not in "iu":
        raise Wrong(f"{what} has dtype {got.dtype}, expected an integer dtype.")
    if got.dtype.kind in "fc" and not np.all(np.isfinite(got)):
        bad = "NaN" if np.isnan(got).any() else "inf"
        raise Wrong(f"{what} contains {bad}.", "Look for a division by zero, a log of 0, or "
                    "exp() of a large number (subtract the maximum first).")
    if dtype_kind == "f" and ref.dtype == np.float64 and got.dtype != np.float64:
        raise Wrong(f"{what} has dtype {got.dtype}; float64 input should give float64 output.")
    if not np.allclose(got, ref, rtol=rtol, atol=atol):
        err = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64))))
        raise Wrong(f"{what}: values differ from the reference (max error {err:.3g}).")
    return got


def expect_tensor(got: Any, shape: tuple, what: str = "output", shape_hint: str | None = None,
                  numpy_hint: str = "Use torch operations on the tensors you are given and return a "
                                    "tensor.") -> np.ndarray:
    """Check that ``got`` is a torch.Tensor of ``shape`` (torch in, torch out); return its array."""
    shape = tuple(shape)
    if isinstance(got, np.ndarray):
        raise Wrong(f"{what} is a NumPy array; this exercise is torch in, torch out.", numpy_hint)
    if not isinstance(got, TensorData):
        raise Wrong(f"{what} is {describe(got)}, expected a torch.Tensor of shape {shape}.",
                    "Did you forget a return statement?")
    if got.array.shape != shape:
        raise Wrong(f"{what} has shape {got.array.shape}, expected {shape}.", shape_hint)
    return got.array


def as_float(value: Any) -> float | None:
    """``value`` as a float if it is a real number (not a bool), else None."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    return None


def expect_number(got: Any, ref: float, what: str = "result", rtol: float = 1e-9,
                  integer: bool = False) -> float:
    """Check a scalar result (a Python or NumPy number)."""
    if isinstance(got, np.ndarray) and got.shape == ():
        got = got[()]
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, (int, float, np.integer, np.floating)):
        raise Wrong(f"{what} is {describe(got)}, expected a number.",
                    "Did you forget a return statement?")
    if integer and not (isinstance(got, (int, np.integer)) or float(got).is_integer()):
        raise Wrong(f"{what} is {got!r}, expected a whole number.")
    if not np.isfinite(got):
        raise Wrong(f"{what} is {got}.")
    if not np.isclose(float(got), float(ref), rtol=rtol, atol=0):
        ratio = float(got) / ref if ref else np.inf
        off = f"{100 * (ratio - 1):+.1f}%" if 0.1 < ratio < 10 else f"{ratio:.3g} times as much"
        raise Wrong(f"{what} is {float(got):.6g}, expected {float(ref):.6g} ({off}).")
    return float(got)


def mistake_hint(got: Any, inputs: dict, mistakes: list[tuple[Callable, str]], **tol) -> str | None:
    """The hint of the first known mistake whose output ``got`` matches, if any."""
    for fn, hint in mistakes:
        try:
            expected = fn(**inputs)
            if isinstance(got, np.ndarray) and np.shape(expected) == got.shape \
                    and np.allclose(got, expected, **tol):
                return hint
            if np.isscalar(got) and np.isscalar(expected) and np.isclose(got, expected, **tol):
                return hint
        except Exception:
            continue
    return None
