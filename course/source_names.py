"""What the dotted names in a cell's source refer to, found without running the cell.

Used by the static half of two checks: "does this answer call the op it is asked to build?"
(:func:`course.exercise.forbidden_in_source`) and "does this cell reach into the grader's own
modules?" (:func:`course.grade.grader_modules_used`). Both ask one question: which of the
names a cell uses *resolve to* a given module or function. A name resolves through

- an import in the cell itself (``import torch.nn.functional as F`` makes ``F.conv2d`` mean
  ``torch.nn.functional.conv2d``; ``from torch.nn.functional import conv2d as c``);
- else, when the cell binds the name some other way (an assignment, an argument, ``self``,
  a ``def`` or ``class``), to nothing: it is the learner's own, and the run-time check
  (:func:`course.exercise.watch_calls`) decides what it does;
- else the imports that ran before the cell (``imports``: the course's setup cells, when
  grading) or the live namespace the cell runs in (``namespace``: the notebook's globals,
  for the instant check).

``__import__("x")`` and ``importlib.import_module("x")`` with a constant string count as
imports of ``x``. A chain is also compared by identity once resolved (``torch.conv2d`` *is*
``torch.nn.functional.conv2d``), importing only the packages named by the targets.
"""
from __future__ import annotations

import ast
import importlib
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_IMPORT_FUNCTIONS = {"__import__", "import_module"}


@dataclass
class Use:
    """One dotted name the source uses: ``text`` as written, ``dotted`` as resolved."""
    text: str
    dotted: str | None = None               # e.g. "torch.nn.functional.conv2d"
    objects: list = field(default_factory=list)   # what the chain's steps evaluate to


def parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def import_bindings(tree: ast.AST) -> dict[str, str]:
    """name -> dotted target, for every absolute import in ``tree`` (later ones win)."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    found[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    found[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name != "*":
                    found[a.asname or a.name] = f"{node.module}.{a.name}"
    return found


def local_names(tree: ast.AST) -> set[str]:
    """Names the source binds other than by import: assignments, arguments, defs, classes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def _import_call(node: ast.AST) -> str | None:
    """The module a constant ``__import__("x")`` / ``importlib.import_module("x")`` names."""
    if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)):
        return None
    func = node.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    return node.args[0].value if name in _IMPORT_FUNCTIONS else None


def _walk_objects(obj: Any, attrs: list[str]) -> list:
    objects = [obj]
    for a in attrs:
        try:
            obj = getattr(obj, a)
        except Exception:
            break
        objects.append(obj)
    return objects


def _objects_of(dotted: str, packages: set[str]) -> list:
    """The objects along ``dotted``, if its top-level package is one of ``packages``."""
    parts = dotted.split(".")
    if parts[0] not in packages:
        return []
    try:
        root = sys.modules.get(parts[0]) or importlib.import_module(parts[0])
    except Exception:
        return []
    objects = [root]
    for i, a in enumerate(parts[1:], 1):
        nxt = getattr(objects[-1], a, None)
        if nxt is None and isinstance(objects[-1], types.ModuleType):
            try:                                  # a submodule not imported yet
                nxt = importlib.import_module(".".join(parts[:i + 1]))
            except Exception:
                nxt = None
        if nxt is None:
            break
        objects.append(nxt)
    return objects


def uses(source: str, imports: Mapping[str, str] | None = None,
         namespace: Mapping[str, Any] | None = None, packages: set[str] = frozenset()) -> list[Use]:
    """Every import and every dotted name in ``source`` that resolves to something known.

    Names bound by the cell other than by import resolve to nothing and are left out.
    ``packages``: top-level packages that may be imported to compare chains by identity.
    """
    tree = parse(source)
    if tree is None:
        return []
    mine = import_bindings(tree)
    local = local_names(tree) - set(mine)
    imports = imports or {}
    found: list[Use] = []

    def add(text: str, dotted: str | None, objects: list | None = None):
        if objects is None:
            objects = _objects_of(dotted, set(packages)) if dotted else []
        found.append(Use(text, dotted, objects))

    for node in ast.walk(tree):                           # the imports themselves
        if isinstance(node, ast.Import):
            for a in node.names:
                add(f"import {a.name}", a.name)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                add(f"from {node.module} import {a.name}",
                    node.module if a.name == "*" else f"{node.module}.{a.name}")
        elif (module := _import_call(node)) is not None:
            add(f"import of {module!r}", module)

    parents = {id(child): parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(tree):                           # the outermost chains a.b.c
        if not isinstance(node, (ast.Attribute, ast.Name)):
            continue
        parent = parents.get(id(node))
        if isinstance(parent, ast.Attribute) and parent.value is node:
            continue                                      # inside a longer chain
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            continue                                      # a binding, not a use
        attrs, cur = [], node
        while isinstance(cur, ast.Attribute):
            attrs.append(cur.attr)
            cur = cur.value
        attrs.reverse()
        if isinstance(cur, ast.Name):
            root, text = cur.id, ".".join([cur.id, *attrs])
            if root in mine:
                add(text, ".".join([mine[root], *attrs]))
            elif root in local:
                continue                                  # the learner's own name
            elif root in imports:
                add(text, ".".join([imports[root], *attrs]))
            elif namespace is not None and root in namespace:
                objects = _walk_objects(namespace[root], attrs)
                dotted = None
                if isinstance(namespace[root], types.ModuleType):
                    dotted = ".".join([namespace[root].__name__, *attrs])
                add(text, dotted, objects)
        elif (module := _import_call(cur)) is not None and attrs:
            called = cur.func.id if isinstance(cur.func, ast.Name) else cur.func.attr
            base = module.split(".")[0] if called == "__import__" else module   # __import__ gives the top
            add(f"import of {module!r}." + ".".join(attrs), ".".join([base, *attrs]))
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def resolve(dotted: str) -> Any:
    """The object a course-chosen dotted name (``torch.nn.functional.conv2d``) names, or None."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
        except AttributeError:
            return None
        return obj
    return None


def matches(use: Use, target: str, target_object: Any = None) -> bool:
    """Does ``use`` resolve to ``target`` (a module: anything inside it; else that object)?"""
    if use.dotted is not None and _under(use.dotted, target):
        return True
    if target_object is None:
        return False
    if isinstance(target_object, types.ModuleType):
        for obj in use.objects:
            if obj is target_object:
                return True
            if isinstance(obj, types.ModuleType) and _under(obj.__name__, target):
                return True
            module = getattr(obj, "__module__", None)
            if isinstance(module, str) and not isinstance(obj, types.ModuleType) \
                    and _under(module, target) and (callable(obj) or isinstance(obj, type)):
                return True
        return False
    return any(obj is target_object for obj in use.objects)


def names_used(source: str, targets: tuple[str, ...], imports: Mapping[str, str] | None = None,
               namespace: Mapping[str, Any] | None = None) -> dict[str, str]:
    """target -> the text in ``source`` that uses it, for each target the source uses."""
    packages = {t.split(".")[0] for t in targets}
    found_uses = uses(source, imports, namespace, packages)
    hits: dict[str, str] = {}
    for target in targets:
        target_object = resolve(target)
        for use in found_uses:
            if matches(use, target, target_object):
                hits[target] = use.text
                break
    return hits
