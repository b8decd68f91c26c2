"""Chapter 02 — neural networks: a scalar autograd engine, linear layers, softmax cross-entropy
and numerical gradients, each checked against PyTorch's autograd.

The module holds the course's reference for each exercise (the notebook's ``yours_or`` falls
back on them until the learner's own version exists) and the five checks.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from course.exercise import Case, Exercise, Wrong, as_float, describe, expect_array, expect_number, register
from course.gradients import numerical_gradient

__all__ = ["Value", "linear_forward", "linear_backward", "softmax_cross_entropy",
           "numerical_gradient"]


# =========================================================================== references

class Value:
    """A scalar that remembers how it was computed (reference for exercise 2.1).

    Each operation returns a new Value holding its ``parents`` and the local derivatives
    ∂(result)/∂(parent). ``backward()`` walks the graph in reverse topological order and
    applies the chain rule: ∂out/∂parent += ∂(node)/∂(parent) · ∂out/∂node.
    """

    def __init__(self, data, parents=(), local_grads=()):
        self.data = float(data)
        self.grad = 0.0
        self._parents = tuple(parents)
        self._local_grads = tuple(local_grads)

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0))

    def __sub__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data - other.data, (self, other), (1.0, -1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __truediv__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        a, b = self.data, other.data
        return Value(a / b, (self, other), (1.0 / b, -a / b**2))

    def __pow__(self, n):
        return Value(self.data**n, (self,), (n * self.data ** (n - 1),))

    def __radd__(self, other):
        return self + other

    def __rsub__(self, other):
        return Value(other) - self

    def __rmul__(self, other):
        return self * other

    def __rtruediv__(self, other):
        return Value(other) / self

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, (self,), (1.0 - t * t,))

    def exp(self):
        e = math.exp(self.data)
        return Value(e, (self,), (e,))

    def relu(self):
        return Value(max(self.data, 0.0), (self,), (1.0 if self.data > 0 else 0.0,))

    def backward(self):
        """Add ∂self/∂v to v.grad for every node v of the graph that produced self."""
        order, seen = [], set()
        stack = [(self, False)]
        while stack:                                    # iterative depth-first topological sort
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node._parents)
        grads = {id(self): 1.0}                         # this call's gradients only
        for node in reversed(order):                    # every consumer before its parents
            g = grads.get(id(node), 0.0)
            node.grad += g
            for parent, local in zip(node._parents, node._local_grads):
                grads[id(parent)] = grads.get(id(parent), 0.0) + local * g

    def __repr__(self):
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g})"


def linear_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Y = X W + b: x (N, D), W (D, M), b (M,) -> (N, M)."""
    return x @ W + b


def linear_backward(dout: np.ndarray, x: np.ndarray, W: np.ndarray):
    """Gradients of Y = X W + b given dout = ∂L/∂Y (N, M): dx (N, D), dW (D, M), db (M,)."""
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray):
    """Mean cross-entropy of softmax(logits) against integer labels y, and ∂loss/∂logits.

    logits (N, C), y (N,) -> (loss: float, dlogits (N, C)). dlogits = (softmax − onehot) / N.
    """
    n = logits.shape[0]
    z = logits - logits.max(axis=1, keepdims=True)                 # (N, C), max is 0
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))   # (N, C)
    loss = -log_probs[np.arange(n), y].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), y] -= 1.0
    return float(loss), dlogits / n


# =========================================================================== 2.1 Value

# A case is a small program: leaves (numbers) and steps {"op": ..., "args": [[kind, v], ...]}
# where kind "node" refers to an earlier node by index and "num" is a plain number.
_APPLY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, n: a**n,
    "tanh": lambda a: a.tanh(),
    "exp": lambda a: a.exp(),
    "relu": lambda a: a.relu(),
}
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


def _replay(make_leaf, leaves, program):
    """Build the graph with ``make_leaf`` (a Value class, torch, ...); return every node."""
    nodes = [make_leaf(x) for x in leaves]
    for step in program:
        operands = [nodes[v] if kind == "node" else v for kind, v in step["args"]]
        nodes.append(_APPLY[step["op"]](*operands))
    return nodes


def _expr(k: int, leaves, program) -> str:
    """'n5 = n2 * 3.0' for node 5."""
    if k < len(leaves):
        return f"n{k} = Value({leaves[k]})"
    step = program[k - len(leaves)]
    names = [f"n{v}" if kind == "node" else repr(v) for kind, v in step["args"]]
    if step["op"] in _SYMBOL:
        return f"n{k} = {names[0]} {_SYMBOL[step['op']]} {names[1]}"
    return f"n{k} = {names[0]}.{step['op']}()"


def _value_call(answer, leaves, program, outputs=None):
    """Drive the learner's class: build the graph, call backward() and read every node back.

    With ``outputs = [k1, k2]`` the program holds two graphs that share only their leaves:
    ``n{k1}.backward()`` then ``n{k2}.backward()``, as a training loop does with two losses.
    """
    nodes = _replay(answer, leaves, program)
    out = {"data": [n.data for n in nodes], "grad_before": [n.grad for n in nodes]}
    first, second = outputs if outputs else (len(nodes) - 1, None)
    nodes[first].backward()
    out["grad"] = [n.grad for n in nodes]
    if second is not None:
        nodes[second].backward()
        out["grad_second"] = [n.grad for n in nodes]
    return out


def _torch_graph(leaves, program, outputs=None):
    """Oracle: the same program on float64 tensors; values and grads (retain_grad) per node.

    Returns (data, grads after the first backward(), grads after the second or None).
    """
    import torch

    nodes = _replay(lambda x: torch.tensor(float(x), dtype=torch.float64, requires_grad=True),
                    leaves, program)
    for n in nodes[len(leaves):]:
        n.retain_grad()
    first, second = outputs if outputs else (len(nodes) - 1, None)
    read = lambda: [0.0 if n.grad is None else n.grad.item() for n in nodes]
    nodes[first].backward()
    grads = read()
    grads_second = None
    if second is not None:                              # a different graph: nothing freed is reused
        nodes[second].backward()
        grads_second = read()
    return [n.item() for n in nodes], grads, grads_second


class _Sim:
    """A small engine that makes the known mistakes on purpose, to name them in hints."""

    mistake: frozenset = frozenset()

    def __init__(self, data, parents=(), local=()):
        self.data, self.grad, self._parents, self._local = float(data), 0.0, parents, local

    def _new(self, data, parents, local):
        return type(self)(data, parents, local)

    def _lift(self, o):
        return o if isinstance(o, _Sim) else type(self)(o)

    def __add__(self, o):
        o = self._lift(o)
        return self._new(self.data + o.data, (self, o), (1.0, 1.0))

    def __sub__(self, o):
        o = self._lift(o)
        return self._new(self.data - o.data, (self, o), (1.0, -1.0))

    def __mul__(self, o):
        o = self._lift(o)
        return self._new(self.data * o.data, (self, o), (o.data, self.data))

    def __truediv__(self, o):
        o = self._lift(o)
        a, b = self.data, o.data
        db = {"div_sign": a / b**2, "div_no_a": -1.0 / b**2}
        key = next((k for k in db if k in self.mistake), None)
        return self._new(a / b, (self, o), (1.0 / b, db[key] if key else -a / b**2))

    def __pow__(self, n):
        return self._new(self.data**n, (self,), (n * self.data ** (n - 1),))

    def __radd__(self, o):
        return self + o

    def __rsub__(self, o):
        return self._lift(o) - self

    def __rmul__(self, o):
        return self * o

    def __rtruediv__(self, o):
        return self._lift(o) / self

    def tanh(self):
        t = math.tanh(self.data)
        local = {"tanh_x": 1 - self.data**2, "tanh_t": 1 - t, "tanh_plus": 1 + t * t}
        key = next((k for k in local if k in self.mistake), None)
        return self._new(t, (self,), (local[key] if key else 1 - t * t,))

    def exp(self):
        e = math.exp(self.data)
        return self._new(e, (self,), (e,))

    def relu(self):
        at_zero = 1.0 if "relu_at_0" in self.mistake else 0.0
        d = 1.0 if self.data > 0 else (at_zero if self.data == 0 else 0.0)
        return self._new(max(self.data, 0.0), (self,), (d,))

    def _topo(self):
        order, seen = [], set()

        def visit(v):
            if id(v) not in seen:
                seen.add(id(v))
                for p in v._parents:
                    visit(p)
                order.append(v)
        visit(self)
        return order

    def _bfs(self):
        order, seen, queue = [], {id(self)}, deque([self])
        while queue:
            v = queue.popleft()
            order.append(v)
            for p in v._parents:
                if id(p) not in seen:
                    seen.add(id(p))
                    queue.append(p)
        return order                                    # output first, like reversed(topo)

    def backward(self):
        m = self.mistake
        if "recursive" in m:                            # each node re-propagated on every visit
            self.grad = 1.0

            def push(v):
                for p, d in zip(v._parents, v._local):
                    p.grad += d * v.grad
                    push(p)
            push(self)
            return
        order = self._bfs() if "bfs" in m else self._topo()[::-1]
        if "no_reverse" in m:
            order = order[::-1]
        grads = {id(self): 1.0}
        for v in order:
            g = grads.get(id(v), 0.0)
            v.grad += g
            for p, d in zip(v._parents, v._local):
                grads[id(p)] = d * g if "overwrite" in m else grads.get(id(p), 0.0) + d * g


def _sim(mistakes: str):
    return type("Sim", (_Sim,), {"mistake": frozenset(mistakes.split())})


HINT_ACCUMULATE = ("A node used several times needs the sum of the gradients from all its "
                   "uses: accumulate with +=, never overwrite with =.")
HINT_ORDER = ("Process the nodes in reverse topological order (every node after all the nodes "
              "that use it): build the order with a depth-first search, then reverse it.")
HINT_OVERWRITE_GRAD = ("backward() must add into .grad (+=), never reset or overwrite it: after "
                       "out1.backward() and out2.backward() a leaf that both use holds the sum "
                       "of both gradients, as in PyTorch.")
HINT_SECOND_OUTPUT = ("The second output's backward() left its leaves with the wrong gradients. "
                      "Build a fresh topological order (a new visited set) in every call, start "
                      "from 1 at the output it was called on, and add into .grad (+=): the two "
                      "outputs' gradients must add up in the leaves they share.")
_VALUE_MISTAKES = [
    ("overwrite", HINT_ACCUMULATE),
    ("no_reverse", "The nodes were processed from the inputs to the output: walk the "
                   "topological order in reverse, starting at the output."),
    ("bfs", HINT_ORDER), ("recursive", HINT_ORDER),
    ("tanh_x", "tanh'(x) = 1 − tanh(x)², the square of the *output*, not 1 − x²."),
    ("tanh_t", "tanh'(x) = 1 − tanh(x)²: the output is squared."),
    ("tanh_plus", "tanh'(x) = 1 − tanh(x)², with a minus sign."),
    ("div_sign", "For q = a / b, ∂q/∂b = −a / b² (note the minus sign)."),
    ("div_no_a", "For q = a / b, ∂q/∂b = −a / b², not −1 / b²."),
    ("relu_at_0", "relu'(0) = 0 here, as in PyTorch: the derivative is 1 only where x > 0."),
]
_OP_HINT = {
    "add": "a + b passes its gradient unchanged to both a and b.",
    "sub": "For a − b: ∂/∂a = 1, ∂/∂b = −1 (also when a number is on the left: __rsub__).",
    "mul": "For a · b: ∂/∂a = b, ∂/∂b = a.",
    "div": "For a / b: ∂/∂a = 1/b, ∂/∂b = −a/b² (also when a number is on the left: __rtruediv__).",
    "pow": "For xⁿ with a number n: the derivative is n · xⁿ⁻¹.",
    "tanh": "tanh'(x) = 1 − tanh(x)².",
    "exp": "exp'(x) = exp(x).",
    "relu": "relu'(x) = 1 where x > 0, else 0 (including x = 0).",
}


def _grad_list(got, key: str, n: int) -> list[float]:
    values = got.get(key) if isinstance(got, dict) else None
    if not isinstance(values, list) or len(values) != n:
        raise Wrong(f"could not read .{key.split('_')[0]} of the nodes.")
    out = []
    for k, v in enumerate(values):
        f = as_float(v)
        if f is None:
            raise Wrong(f"node n{k}'s .grad is {describe(v)}, expected a number (a float).",
                        ".grad holds a plain number: start it at 0.0 and add floats into it.")
        out.append(f)
    return out


def _value_judge(inputs: dict, got) -> None:
    leaves, program, outputs = inputs["leaves"], inputs["program"], inputs.get("outputs")
    ref_data, ref_grad, ref_second = _torch_graph(leaves, program, outputs)
    n = len(ref_data)
    if not isinstance(got, dict):
        raise Wrong(f"the graph could not be read back ({describe(got)}).")
    data = got.get("data")
    if not isinstance(data, list) or len(data) != n:
        raise Wrong("could not read .data of the nodes.")
    for k in range(n):
        f = as_float(data[k])
        if f is None:
            raise Wrong(f"{_expr(k, leaves, program)}: .data is {describe(data[k])}, expected a "
                        "number.", "Keep .data a plain float; wrap results in Value(...) only "
                        "once.")
        if not np.isclose(f, ref_data[k], rtol=1e-9, atol=1e-12):
            op = program[k - len(leaves)]["op"] if k >= len(leaves) else None
            raise Wrong(f"{_expr(k, leaves, program)}: .data is {f:.6g}, expected {ref_data[k]:.6g}.",
                        _OP_HINT.get(op, "Value(x).data should be x."))
    before = _grad_list(got, "grad_before", n)
    if any(g != 0.0 for g in before):
        k = next(k for k, g in enumerate(before) if g != 0.0)
        raise Wrong(f"before backward(), {_expr(k, leaves, program)} has .grad {before[k]:.6g}.",
                    ".grad starts at 0.0 for every new Value.")
    if outputs:
        runs = [("grad", ref_grad, f"after n{outputs[0]}.backward()"),
                ("grad_second", ref_second, f"after n{outputs[0]}.backward() and then "
                                            f"n{outputs[1]}.backward()")]
    else:
        runs = [("grad", ref_grad, "after backward()")]
    for key, ref, when in runs:
        grads = _grad_list(got, key, n)
        if np.allclose(grads, ref, rtol=1e-7, atol=1e-10):
            continue
        if key == "grad_second":                        # the first call was right
            leaves_second_only = [s - f for s, f in zip(ref[:len(leaves)], ref_grad)]
            overwritten = np.allclose(grads[:len(leaves)], leaves_second_only, rtol=1e-7, atol=1e-10)
            hint = HINT_OVERWRITE_GRAD if overwritten else HINT_SECOND_OUTPUT
        else:
            hint = _value_mistake(grads, leaves, program, outputs[0] if outputs else -1)
        # The wrong node closest to the output: the nodes that use it have right gradients,
        # so the fault is in how they pass the gradient on.
        k = max(i for i in range(n) if not np.isclose(grads[i], ref[i], rtol=1e-7, atol=1e-10))
        users = sorted({s["op"] for s in program
                        if any(kind == "node" and v == k for kind, v in s["args"])})
        if hint is None:
            hint = " ".join(_OP_HINT[op] for op in users) or "The output's own gradient is 1."
            uses = sum(kind == "node" and v == k for s in program for kind, v in s["args"])
            if uses > 1:
                hint += f" n{k} is used {uses} times: add up the gradients of all its uses (+=)."
        raise Wrong(f"{when}, {_expr(k, leaves, program)} has .grad {grads[k]:.6g}, expected "
                    f"{ref[k]:.6g} (torch.autograd).", hint)


def _value_mistake(grads, leaves, program, output=-1) -> str | None:
    """The hint of the first simulated mistake whose gradients match the learner's after
    ``n{output}.backward()``."""
    paths = [0] * (len(leaves) + len(program))          # paths from the output to each node
    paths[output] = 1
    for k in range(len(paths) - 1, len(leaves) - 1, -1):
        for kind, v in program[k - len(leaves)]["args"]:
            if kind == "node":
                paths[v] += paths[k]
    for mistakes, hint in _VALUE_MISTAKES:
        if "recursive" in mistakes and sum(paths) > 20_000:
            continue
        try:
            nodes = _replay(_sim(mistakes), leaves, program)
            nodes[output].backward()
        except (ArithmeticError, ValueError, RecursionError):
            continue
        if np.allclose(grads, [v.grad for v in nodes], rtol=1e-7, atol=1e-10):
            return hint
    return None


def _num(rng, low=0.5, high=3.0) -> float:
    """A round non-zero number, either sign."""
    return float(round(rng.uniform(low, high), 2) * rng.choice([-1, 1]))


def _random_program(rng: np.random.Generator, n_leaves: int, n_steps: int, leaves=None):
    """Random leaves and steps, kept in a numerically tame range; every node reaches the output.

    Given ``leaves``, the program is built on them (for a second output over the same leaves).
    """
    if leaves is None:
        leaves = [float(round(rng.uniform(-2, 2), 3)) for _ in range(n_leaves)]
    n_leaves = len(leaves)
    values, program, used = list(leaves), [], [0] * n_leaves

    def add(op, args, value):
        for kind, v in args:
            if kind == "node":
                used[v] += 1
        program.append({"op": op, "args": args})
        values.append(value)
        used.append(0)

    for _ in range(n_steps):
        i = int(rng.integers(max(0, len(values) - 3), len(values))) if rng.random() < 0.7 \
            else int(rng.integers(len(values)))
        a = values[i]
        op = str(rng.choice(["add", "sub", "mul", "div", "pow", "tanh", "exp", "relu"]))
        if op in ("add", "sub", "mul", "div"):
            if rng.random() < 0.35:                     # a number on one side
                c = ["num", _num(rng)]
                args = [c, ["node", i]] if rng.random() < 0.5 else [["node", i], c]
            else:
                args = [["node", i], ["node", int(rng.integers(len(values)))]]
            x, y = (v if kind == "num" else values[v] for kind, v in args)
            if op == "div" and abs(y) < 0.5:
                op = "mul"
            value = {"add": x + y, "sub": x - y, "mul": x * y}[op] if op != "div" else x / y
        elif op == "pow":
            choices = [2.0, 3.0] + ([-1.0] if abs(a) > 0.5 else []) + ([0.5] if a > 0.1 else [])
            p = choices[int(rng.integers(len(choices)))]
            args, value = [["node", i], ["num", p]], a**p
        elif op == "exp" and a < 2.0:
            args, value = [["node", i]], math.exp(a)
        elif op == "relu":
            args, value = [["node", i]], max(a, 0.0)
        else:
            op, args, value = "tanh", [["node", i]], math.tanh(a)
        if abs(value) > 30:                             # keep values and gradients tame
            op, args, value = "tanh", [["node", i]], math.tanh(a)
        add(op, args, value)
    dangling = [k for k in range(len(values) - 1) if used[k] == 0]
    for k in dangling:                                  # sum every unused node into the output
        add("add", [["node", len(values) - 1], ["node", k]], values[-1] + values[k])
    return leaves, program


def _two_outputs(rng: np.random.Generator) -> dict:
    """Two random graphs over the same three leaves, sharing nothing else (COURSE.md §9: the
    leaves' gradients add up over the two backward() calls, as two losses do in training)."""
    leaves, first = _random_program(rng, 3, 8)
    _, second = _random_program(rng, 3, 8, leaves=leaves)
    shift = len(first)                                  # second's own nodes come after first's
    second = [{"op": s["op"], "args": [[kind, v + shift if kind == "node" and v >= len(leaves)
                                        else v] for kind, v in s["args"]]} for s in second]
    n1 = len(leaves) + len(first) - 1
    return dict(leaves=leaves, program=first + second, outputs=[n1, n1 + len(second)])


def _steps(*steps):
    """Readable fixed programs: ("mul", 0, 1.5) -> node 0 times the number 1.5."""
    out = []
    for op, *args in steps:
        out.append({"op": op, "args": [["node", a] if isinstance(a, int) else ["num", float(a)]
                                       for a in args]})
    return out


def _value_cases(rng: np.random.Generator) -> list[Case]:
    a, b, c = (float(round(rng.uniform(0.6, 2.0), 3) * s) for s in (1, -1, 1))
    k = _num(rng, 1.0, 3.0)
    every_op = _steps(("add", 0, 1), ("add", 0, k), ("add", k, 1), ("sub", 0, 1), ("sub", 0, k),
                      ("sub", k, 1), ("mul", 0, 1), ("mul", 1, k), ("mul", k, 2), ("div", 0, 1),
                      ("div", 1, k), ("div", k, 2), ("pow", 0, 2.0), ("pow", 1, 3.0),
                      ("pow", 2, -1.0), ("pow", 2, 0.5), ("tanh", 0), ("exp", 1), ("relu", 0),
                      ("relu", 1))
    n = 3 + len(every_op)                               # sum every result into the output
    every_op += _steps(("add", 3, 4), *[("add", n + i, 5 + i) for i in range(len(every_op) - 2)])
    shared = _steps(("mul", 0, 0), ("add", 2, 0), ("mul", 2, 3), ("mul", 0, 1), ("add", 4, 5),
                    ("div", 6, 3), ("mul", 7, 0.25), ("tanh", 8))   # n0 used five times; diamonds
    neuron = _steps(("mul", 0, 1), ("mul", 2, 3), ("add", 5, 6), ("add", 7, 4), ("tanh", 8))
    relu_zero = _steps(("relu", 0), ("relu", 1), ("sub", 2, 2), ("relu", 5), ("mul", 3, 2),
                       ("add", 7, 6), ("add", 8, 4), ("mul", 9, 1.5), ("tanh", 10), ("add", 11, 5),
                       ("mul", 12, 2))
    x = [float(round(rng.uniform(-1, 1), 3)) for _ in range(5)]
    cases = [
        Case("every operator once, numbers on either side", dict(leaves=[a, b, c], program=every_op)),
        Case("a node used several times", dict(leaves=[a, c], program=shared)),
        Case("a tanh neuron", dict(leaves=x, program=neuron)),
        Case("relu at exactly 0", dict(leaves=[0.0, b, a], program=relu_zero)),
    ]
    cases.append(Case("two outputs sharing their leaves: out1.backward(), then out2.backward()",
                      _two_outputs(rng)))
    for size in (15, 25):
        leaves, program = _random_program(rng, 4, size)
        cases.append(Case(f"random expression graph ({len(program)} operations)",
                          dict(leaves=leaves, program=program)))
    return cases


register(Exercise(
    id="2.1", name="Value", make_cases=_value_cases, call=_value_call, judge=_value_judge,
    forbidden=("torch",), points=3,
    hint="Each operation records its parents and ∂result/∂parent; backward() visits the nodes "
         "in reverse topological order and adds local derivative × gradient into each parent.",
    summary="incl. shared nodes, numbers on either side, relu at 0 and two outputs sharing "
            "their leaves"))


# =========================================================================== 2.2 linear_forward

def _linear_shapes(rng, dtype=np.float64, **shape):
    N, D, M = shape["N"], shape["D"], shape["M"]
    return dict(x=rng.standard_normal((N, D)).astype(dtype),
                W=rng.standard_normal((D, M)).astype(dtype),
                b=rng.standard_normal(M).astype(dtype))


_LINEAR_SHAPES = [("square W (D = M = 4)", dict(N=3, D=4, M=4)),   # transposes show in values
                  ("N=5, D=3, M=4", dict(N=5, D=3, M=4)), ("batch of one", dict(N=1, D=6, M=2)),
                  ("N=64, D=10, M=7", dict(N=64, D=10, M=7))]


def _forward_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case(label, _linear_shapes(rng, **s)) for label, s in _LINEAR_SHAPES]
    cases.append(Case("float32 inputs", _linear_shapes(rng, np.float32, N=4, D=5, M=3)))
    return cases


def _tol(a: np.ndarray) -> dict:
    return dict(rtol=1e-5, atol=1e-5) if a.dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


def _forward_judge(inputs: dict, got) -> None:
    import torch

    x, W, b = inputs["x"], inputs["W"], inputs["b"]
    ref = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(W).T,
                                     torch.from_numpy(b)).numpy()
    try:
        expect_array(got, ref, "Y", **_tol(x))
    except Wrong as w:
        if isinstance(got, np.ndarray) and got.shape == ref.shape:
            if np.allclose(got, x @ W, **_tol(x)):
                w.hint = "The bias is missing: Y = x @ W + b."
            elif np.allclose(got, x @ W.T + b, **_tol(x)):
                w.hint = "W is (D, M) here, so Y = x @ W + b, with no transpose."
        raise


register(Exercise(
    id="2.2", name="linear_forward", make_cases=_forward_cases, judge=_forward_judge,
    forbidden=("torch",),
    hint="Y = x @ W + b: (N, D) @ (D, M) -> (N, M), and b (M,) broadcasts over the rows.",
    summary="incl. a batch of one, a square W and float32"))


# =========================================================================== 2.3 linear_backward

def _backward_cases(rng: np.random.Generator) -> list[Case]:
    cases = []
    for label, s in _LINEAR_SHAPES + [("float32 inputs", dict(N=4, D=5, M=3))]:
        dtype = np.float32 if "float32" in label else np.float64
        d = _linear_shapes(rng, dtype, **s)
        cases.append(Case(label, dict(dout=rng.standard_normal((s["N"], s["M"])).astype(dtype),
                                      x=d["x"], W=d["W"])))
    return cases


def _backward_judge(inputs: dict, got) -> None:
    import torch

    dout, x, W = inputs["dout"], inputs["x"], inputs["W"]
    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.zeros(W.shape[1], dtype=xt.dtype, requires_grad=True)
    (xt @ Wt + bt).backward(torch.from_numpy(dout))
    refs = {"dx": xt.grad.numpy(), "dW": Wt.grad.numpy(), "db": bt.grad.numpy()}
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise Wrong(f"returned {describe(got)}, expected a tuple (dx, dW, db).",
                    "End with: return dx, dW, db")
    tol = _tol(x)
    known = {
        "dx": [(dout @ W if W.shape[0] == W.shape[1] else None,
                "Transposes swapped: dx = dout @ W.T, shape (N, M) @ (M, D) -> (N, D).")],
        "dW": [((x.T @ dout).T, "dW is transposed: dW = x.T @ dout has W's shape (D, M)."),
               (x.T @ dout / len(x), "dW = x.T @ dout, with no division by N: the batch "
                                     "average is already in dout.")],
        "db": [(dout, "db not summed over the batch: db = dout.sum(axis=0), shape (M,)."),
               (dout.mean(axis=0), "db is the sum of dout over the batch (axis 0), not the mean."),
               (dout.sum(axis=1), "db sums dout over the batch axis (axis=0), giving (M,).")],
    }
    for (name, ref), part in zip(refs.items(), got):
        try:
            expect_array(part, ref, name, **tol)
        except Wrong as w:
            for wrong, hint in known[name]:
                if wrong is not None and isinstance(part, np.ndarray) and part.shape == wrong.shape \
                        and np.allclose(part, wrong, **tol):
                    w.hint = hint
                    break
            else:
                if name == "dW" and isinstance(part, np.ndarray) and part.shape == W.T.shape:
                    w.hint = "dW must have W's shape (D, M): dW = x.T @ dout."
                elif name == "dx" and isinstance(part, np.ndarray) and part.shape != x.shape:
                    w.hint = "dx has x's shape (N, D): dx = dout @ W.T."
            raise


register(Exercise(
    id="2.3", name="linear_backward", make_cases=_backward_cases, judge=_backward_judge,
    forbidden=("torch",),
    hint="dx = dout @ W.T (N, D); dW = x.T @ dout (D, M); db = dout.sum(axis=0) (M,). Each "
         "gradient has the shape of what it is the gradient of.",
    summary="incl. a batch of one, a square W and float32"))


# =========================================================================== 2.4 softmax_cross_entropy

def _ce_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, N, C, scale=3.0, dtype=np.float64):
        logits = (scale * rng.standard_normal((N, C))).astype(dtype)
        return Case(label, dict(logits=logits, y=rng.integers(0, C, N).astype(np.int64)))

    big = case("logits of magnitude 1e4", 6, 5, scale=1e4)
    big.inputs["y"] = np.argmin(big.inputs["logits"], axis=1).astype(np.int64)  # p(y) underflows
    big.inputs["y"][0] = np.argmax(big.inputs["logits"][0])
    return [case("N=5, C=4", 5, 4), case("batch of one", 1, 3), case("N=32, C=10", 32, 10),
            Case("all logits equal", dict(logits=np.zeros((4, 6)), y=np.array([0, 5, 2, 2]))),
            big, case("float32 logits", 8, 5, dtype=np.float32)]


def _ce_judge(inputs: dict, got) -> None:
    import torch

    logits, y = inputs["logits"], inputs["y"]
    n = len(y)
    lt = torch.tensor(logits, requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(lt, torch.from_numpy(y))
    loss_t.backward()
    ref_loss, ref_grad = loss_t.item(), lt.grad.numpy()
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Wrong(f"returned {describe(got)}, expected a tuple (loss, dlogits).",
                    "End with: return loss, dlogits")
    loss, dlogits = got
    rtol = 1e-5 if logits.dtype == np.float32 else 1e-8
    if isinstance(loss, np.ndarray) and loss.shape != ():
        raise Wrong(f"loss is an array of shape {loss.shape}, expected one number.",
                    "Average the per-example losses: loss = losses.mean().")
    g = as_float(loss)
    if g is not None and not np.isfinite(g):
        overflow = np.isnan(g) or (isinstance(dlogits, np.ndarray) and dlogits.dtype.kind == "f"
                                   and not np.all(np.isfinite(dlogits)))
        raise Wrong(f"loss is {g}.", "exp() overflowed: subtract each row's maximum from the "
                    "logits before exponentiating (softmax does not change)." if overflow else
                    "A probability underflowed to 0 and log(0) = -inf: compute log-softmax "
                    "directly, z − max − log(Σ exp(z − max)).")
    try:
        expect_number(loss, ref_loss, "loss", rtol=rtol)
    except Wrong as w:
        if g is not None and n > 1 and np.isclose(g, n * ref_loss, rtol=rtol):
            w.hint = "That is the sum over the batch: the loss is the mean (divide by N)."
        raise
    try:
        expect_array(dlogits, ref_grad, "dlogits", rtol=max(rtol, 1e-7), atol=1e-7)
    except Wrong as w:
        if isinstance(dlogits, np.ndarray) and dlogits.shape == ref_grad.shape:
            p = ref_grad.copy()
            p[np.arange(n), y] += 1.0 / n                       # softmax / N
            known = [(n * ref_grad, "The gradient is not divided by N: the loss is a mean, "
                                    "so dlogits = (softmax − onehot) / N."),
                     (-ref_grad, "The sign is flipped: dlogits = (softmax − onehot) / N."),
                     (p, "Subtract 1 at the true class: dlogits = (softmax − onehot) / N."),
                     (n * p, "Subtract 1 at the true class, and divide by N.")]
            for wrong, hint in known:
                if np.allclose(dlogits, wrong, rtol=max(rtol, 1e-7), atol=1e-7):
                    w.hint = hint
                    break
        raise


register(Exercise(
    id="2.4", name="softmax_cross_entropy", make_cases=_ce_cases, judge=_ce_judge,
    forbidden=("torch",),
    hint="loss = mean over the batch of −log softmax(z)[y]; dlogits = (softmax(z) − onehot(y)) / N. "
         "Subtract each row's max before exp().",
    summary="incl. a batch of one and logits of magnitude 1e4"))


# =========================================================================== 2.5 numerical_gradient

def _test_function(kind: str, x: np.ndarray, data: dict):
    """A scalar function for a case. 'closure' kinds read ``x`` itself and ignore their argument."""
    if kind == "quadratic":                              # f(z) = ½ zᵀAz + bᵀz
        A, b = data["A"], data["b"]
        return lambda z: float(0.5 * z @ A @ z + b @ z)
    if kind == "tensor":                                 # f(z) = Σ C ⊙ tanh(z) + Σ z²
        C = data["C"]
        return lambda z: float(np.sum(C * np.tanh(z)) + np.sum(z**2))
    if kind == "cubic":                                  # f(z) = Σ exp(2z) + z³
        return lambda z: float(np.sum(np.exp(2 * z) + z**3))
    if kind == "wave":                                   # f(z) = Σ sin(10z): f''' is large
        return lambda z: float(np.sum(np.sin(10 * z)))
    if kind == "closure":                                # f = lambda _: loss(W), W is x
        X, y = data["X"], data["y"]
        return lambda _: softmax_cross_entropy(np.tanh(X @ x) * 3.0, y)[0]
    raise ValueError(kind)


def _ng_call(answer, kind, x, eps=None, **data):
    """Give the learner a copy of x that f reads through a closure; report x afterwards."""
    x_work = np.array(x, dtype=np.float64, copy=True)
    f = _test_function(kind, x_work, data)
    grad = answer(f, x_work) if eps is None else answer(f, x_work, eps=eps)
    return {"grad": grad, "x_after": x_work}


def _ng_cases(rng: np.random.Generator) -> list[Case]:
    Q = rng.standard_normal((5, 5))
    A = Q @ Q.T + 4 * np.eye(5)                           # curvature: forward differences show
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    return [
        Case("quadratic in a vector", dict(kind="quadratic", x=rng.standard_normal(5), A=A,
                                           b=rng.standard_normal(5))),
        Case("f reads a matrix W through a closure (lambda _: loss(W))",
             dict(kind="closure", x=rng.standard_normal((4, 3)), X=X, y=y.astype(np.int64))),
        Case("a 3-D array", dict(kind="tensor", x=rng.standard_normal((2, 3, 2)),
                                 C=rng.standard_normal((2, 3, 2)))),
        Case("a single entry", dict(kind="cubic", x=rng.standard_normal(1))),
        Case("eps = 1e-3", dict(kind="wave", x=rng.uniform(-1, 1, 4), eps=1e-3)),
    ]


def _ng_judge(inputs: dict, got) -> None:
    data = {k: v for k, v in inputs.items() if k not in ("kind", "x", "eps")}
    x, eps = inputs["x"], inputs.get("eps") or 1e-5

    def oracle(method):
        z = np.array(x, dtype=np.float64, copy=True)
        return method(_test_function(inputs["kind"], z, data), z)

    ref = oracle(lambda f, z: numerical_gradient(f, z, eps))
    if not isinstance(got, dict):
        raise Wrong(f"the result could not be read back ({describe(got)}).")
    after = got.get("x_after")
    if isinstance(after, np.ndarray) and after.shape == np.shape(x):
        change = np.abs(after - x)
        if change.max() > 1e-12 * (1 + np.abs(x).max()):
            i = np.unravel_index(np.argmax(change), change.shape)
            raise Wrong(f"x was left modified after the call (entry {tuple(map(int, i))} is off "
                        f"by {change.max():.2g}).", "Save each entry before perturbing it and put "
                        "it back afterwards: old = x[i]; ...; x[i] = old.")
    grad = got.get("grad")
    tol = dict(rtol=1e-6, atol=1e-8)
    try:
        expect_array(grad, ref, "gradient", **tol)
    except Wrong as w:
        if not isinstance(grad, np.ndarray) or grad.shape != ref.shape:
            raise
        forward = oracle(lambda f, z: _forward_difference(f, z, eps))
        if np.allclose(grad, forward, **tol):
            w.hint = ("That is a forward difference (f(x+eps) − f(x)) / eps, with an error of "
                      "order eps. Use central differences, (f(x+eps) − f(x−eps)) / (2·eps): error "
                      "of order eps².")
        elif np.allclose(grad, 0) and inputs["kind"] == "closure":
            w.hint = ("f reads x through a closure and ignores its argument: perturb the array "
                      "you were given, in place (x[i] = old + eps), and restore each entry.")
        elif eps != 1e-5 and np.allclose(grad, oracle(lambda f, z: numerical_gradient(f, z)), **tol):
            w.hint = "Use the eps argument you were given."
        raise


def _forward_difference(f, x, eps):
    grad = np.zeros_like(x)
    f0 = float(f(x))
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        grad[i] = (float(f(x)) - f0) / eps
        x[i] = old
    return grad


register(Exercise(
    id="2.5", name="numerical_gradient", make_cases=_ng_cases, call=_ng_call, judge=_ng_judge,
    forbidden=("torch",),
    hint="For each entry i: old = x[i]; x[i] = old + eps; f₊ = f(x); x[i] = old − eps; "
         "f₋ = f(x); x[i] = old; grad[i] = (f₊ − f₋) / (2·eps).",
    summary="incl. a closure over x, a 3-D array and a given eps"))
