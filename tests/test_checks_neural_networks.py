"""Chapter 02: each check accepts the reference and rejects the mistakes the issue lists, with a hint
that names them. The wrong answers here are written independently of the checks' own simulations."""
import math
import time
from collections import deque

import numpy as np
import pytest
import torch

from course.exercises import neural_networks as ref
from course.gradients import numerical_gradient
from tests.helpers import assert_fails, assert_passes, verdict


# =========================================================================== 2.1 Value

class Good:
    """A correct engine; the subclasses below each make one mistake."""

    def __init__(self, data, parents=(), local=()):
        self.data, self.grad, self.parents, self.local = float(data), 0.0, parents, local

    def new(self, data, parents=(), local=()):
        return type(self)(data, parents, local)

    def lift(self, o):
        return o if isinstance(o, Good) else self.new(o)

    def __add__(self, o):
        o = self.lift(o)
        return self.new(self.data + o.data, (self, o), (1.0, 1.0))

    def __sub__(self, o):
        o = self.lift(o)
        return self.new(self.data - o.data, (self, o), (1.0, -1.0))

    def __mul__(self, o):
        o = self.lift(o)
        return self.new(self.data * o.data, (self, o), (o.data, self.data))

    def __truediv__(self, o):
        o = self.lift(o)
        return self.new(self.data / o.data, (self, o), (1 / o.data, -self.data / o.data**2))

    def __pow__(self, n):
        return self.new(self.data**n, (self,), (n * self.data ** (n - 1),))

    def __radd__(self, o):
        return self + o

    def __rsub__(self, o):
        return self.lift(o) - self

    def __rmul__(self, o):
        return self * o

    def __rtruediv__(self, o):
        return self.lift(o) / self

    def tanh(self):
        t = math.tanh(self.data)
        return self.new(t, (self,), (1 - t**2,))

    def exp(self):
        return self.new(math.exp(self.data), (self,), (math.exp(self.data),))

    def relu(self):
        return self.new(max(0.0, self.data), (self,), (float(self.data > 0),))

    def order(self):
        """Output first, every node before its parents."""
        topo, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for p in v.parents:
                    visit(p)
                topo.append(v)
        visit(self)
        return topo[::-1]

    def backward(self):
        grads = {self: 1.0}
        for v in self.order():
            g = grads.get(v, 0.0)
            v.grad += g
            for p, d in zip(v.parents, v.local):
                grads[p] = grads.get(p, 0.0) + d * g

    __hash__ = object.__hash__


class OverwriteParents(Good):
    def backward(self):
        grads = {self: 1.0}
        for v in self.order():
            v.grad += grads.get(v, 0.0)
            for p, d in zip(v.parents, v.local):
                grads[p] = d * grads.get(v, 0.0)                # = instead of +=


class OverwriteGrad(Good):
    def backward(self):
        grads = {self: 1.0}
        for v in self.order():
            v.grad = grads.get(v, 0.0)                          # = instead of +=
            for p, d in zip(v.parents, v.local):
                grads[p] = grads.get(p, 0.0) + d * grads[v]


class BreadthFirst(Good):
    def order(self):
        out, seen, queue = [], {self}, deque([self])
        while queue:
            v = queue.popleft()
            out.append(v)
            for p in v.parents:
                if p not in seen:
                    seen.add(p)
                    queue.append(p)
        return out


class ForgotReverse(Good):
    def order(self):
        return super().order()[::-1]


class Recursive(Good):
    def backward(self):
        self.grad = 1.0

        def push(v):
            for p, d in zip(v.parents, v.local):
                p.grad += d * v.grad
                push(p)
        push(self)


class TanhOfInput(Good):
    def tanh(self):
        return self.new(math.tanh(self.data), (self,), (1 - self.data**2,))


class TanhNotSquared(Good):
    def tanh(self):
        t = math.tanh(self.data)
        return self.new(t, (self,), (1 - t,))


class DivSign(Good):
    def __truediv__(self, o):
        o = self.lift(o)
        return self.new(self.data / o.data, (self, o), (1 / o.data, self.data / o.data**2))


class DivWithoutA(Good):
    def __truediv__(self, o):
        o = self.lift(o)
        return self.new(self.data / o.data, (self, o), (1 / o.data, -1 / o.data**2))


class ReluOneAtZero(Good):
    def relu(self):
        return self.new(max(0.0, self.data), (self,), (float(self.data >= 0),))


class PowWrong(Good):
    def __pow__(self, n):
        return self.new(self.data**n, (self,), (n * self.data**n,))


class RsubBackwards(Good):
    def __rsub__(self, o):
        return self - o


class GradStartsNone(Good):
    def __init__(self, data, parents=(), local=()):
        super().__init__(data, parents, local)
        self.grad = None

    def backward(self):
        for v in self.order():
            v.grad = v.grad or 0.0
        super().backward()


class ReluNanAtZero(Good):
    def relu(self):
        d = self.data / abs(self.data) if self.data else float("nan")
        return self.new(max(0.0, self.data), (self,), (max(d, 0.0) if d == d else d,))


class Micrograd:
    """The closure-based design many learners know (micrograd): a topological sort,
    ``self.grad = 1.0``, then each node's ``_backward`` in reverse. Right for one backward() per
    graph, which is the contract (COURSE.md §9)."""

    overwrite = False

    def __init__(self, data, _children=()):
        self.data, self.grad, self._prev, self._backward = float(data), 0.0, _children, lambda: None

    def _acc(self, node, g):
        node.grad = g if self.overwrite else node.grad + g

    def __add__(self, other):
        other = other if isinstance(other, Micrograd) else type(self)(other)
        out = type(self)(self.data + other.data, (self, other))

        def _backward():
            self._acc(self, out.grad)
            self._acc(other, out.grad)
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Micrograd) else type(self)(other)
        out = type(self)(self.data * other.data, (self, other))

        def _backward():
            self._acc(self, other.data * out.grad)
            self._acc(other, self.data * out.grad)
        out._backward = _backward
        return out

    def __pow__(self, n):
        out = type(self)(self.data**n, (self,))

        def _backward():
            self._acc(self, n * self.data ** (n - 1) * out.grad)
        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = type(self)(t, (self,))

        def _backward():
            self._acc(self, (1 - t * t) * out.grad)
        out._backward = _backward
        return out

    def exp(self):
        out = type(self)(math.exp(self.data), (self,))

        def _backward():
            self._acc(self, out.data * out.grad)
        out._backward = _backward
        return out

    def relu(self):
        out = type(self)(max(0.0, self.data), (self,))

        def _backward():
            self._acc(self, (self.data > 0) * out.grad)
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other**-1

    def __radd__(self, other):
        return self + other

    def __rsub__(self, other):
        return (-self) + other

    def __rmul__(self, other):
        return self * other

    def __rtruediv__(self, other):
        return self**-1 * other

    def backward(self):
        topo, seen = [], set()

        def build(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)
        build(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()


class MicrogradOverwrite(Micrograd):
    overwrite = True


class MicrogradFixed(Micrograd):
    """The same design, made right for repeated calls: propagate this call's gradients only."""

    def backward(self):
        topo, seen = [], set()

        def build(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    build(child)
                topo.append(v)
        build(self)
        saved = {v: v.grad for v in topo}
        for v in topo:
            v.grad = 0.0
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()
        for v in topo:
            v.grad += saved[v]


class ZeroGradInBackward(Good):
    """Resets every node's .grad at the start of backward(): the second output wipes the first's."""

    def backward(self):
        for v in self.order():
            v.grad = 0.0
        super().backward()


class VisitedForever(Good):
    """Marks nodes visited on the nodes themselves and never clears it: a second backward() on
    another output skips the leaves the first one visited."""

    def order(self):
        topo = []

        def visit(v):
            if not getattr(v, "visited", False):
                v.visited = True
                for p in v.parents:
                    visit(p)
                topo.append(v)
        visit(self)
        return topo[::-1]


def test_value_reference_and_correct_variants_pass():
    assert_passes("Value", ref.Value)
    assert_passes("Value", Good)
    assert_passes("Value", MicrogradFixed)


def test_value_micrograd_style_engine_passes():
    """Issue 12: topological sort, self.grad = 1.0, `_backward` in reverse is a right answer."""
    assert_passes("Value", Micrograd, seeds=(0, 1, 2, 3, 4))


def test_value_two_outputs_sharing_leaves_is_checked():
    r = assert_fails("Value", OverwriteGrad, "backward() and then", "+=")
    assert "sum of both gradients" in r.hint


@pytest.mark.parametrize("answer, phrase", [
    (OverwriteParents, "+="), (OverwriteGrad, "+="), (MicrogradOverwrite, "+="),
    (ZeroGradInBackward, "never reset"), (VisitedForever, "fresh topological order"),
    (BreadthFirst, "topological"), (Recursive, "topological"), (ForgotReverse, "reverse"),
    (TanhOfInput, "1 − tanh(x)²"), (TanhNotSquared, "1 − tanh(x)²"),
    (DivSign, "minus sign"), (DivWithoutA, "−a / b²"),
    (ReluOneAtZero, "relu'(0) = 0"), (ReluNanAtZero, "relu"),
    (PowWrong, "n · xⁿ⁻¹"), (RsubBackwards, "__rsub__"), (GradStartsNone, "0.0"),
])
def test_value_mistakes(answer, phrase):
    for seed in (0, 1, 2):
        assert_fails("Value", answer, phrase, seed=seed)


def test_value_wrong_tanh_or_div_caught_on_every_seed_and_named_in_message():
    r = assert_fails("Value", TanhOfInput)
    assert "torch.autograd" in r.message


class AddReturnsFloat(Good):
    def __add__(self, o):
        return self.data + self.lift(o).data


class DataKeptAsValue(Good):
    def __mul__(self, o):
        out = super().__mul__(o)
        out.data = self.new(out.data)
        return out


@pytest.mark.parametrize("answer, phrase", [
    (AddReturnsFloat, "raised AttributeError"), (DataKeptAsValue, "raised TypeError"),
])
def test_value_bad_returns(answer, phrase):
    assert_fails("Value", answer, phrase)


def test_value_using_torch_is_rejected():
    class TorchValue:
        def __init__(self, data):
            self.t = torch.tensor(float(data), dtype=torch.float64, requires_grad=True)
    assert_fails("Value", TorchValue, "torch")


def test_value_stub_is_not_implemented():
    class Stub:
        def __init__(self, data, parents=(), local_grads=()):
            raise NotImplementedError("Exercise 2.1: Value")
    assert verdict("Value", Stub).status == "not_implemented"


def test_value_check_is_fast():
    t = time.process_time()
    assert_fails("Value", Recursive)
    assert_passes("Value", ref.Value, seeds=(0,))
    assert time.process_time() - t < 2.0


def test_value_cases_cover_what_the_issue_asks():
    from course.exercises.neural_networks import _value_cases
    for seed in (0, 1, 2):
        cases = _value_cases(np.random.default_rng(seed))
        ops = {s["op"] for c in cases for s in c.inputs["program"]}
        assert ops == {"add", "sub", "mul", "div", "pow", "tanh", "exp", "relu"}
        sides = {tuple(kind for kind, _ in s["args"]) for c in cases for s in c.inputs["program"]
                 if s["op"] in ("add", "sub", "mul", "div")}
        assert {("num", "node"), ("node", "num"), ("node", "node")} <= sides
        two = [c for c in cases if c.inputs.get("outputs")]
        assert len(two) == 1
        k1, k2 = two[0].inputs["outputs"]
        n_leaves = len(two[0].inputs["leaves"])
        program = two[0].inputs["program"]
        first = {v for s in program[:k1 + 1 - n_leaves] for kind, v in s["args"] if kind == "node"}
        second = {v for s in program[k1 + 1 - n_leaves:] for kind, v in s["args"] if kind == "node"}
        assert first & second and all(v < n_leaves for v in first & second)   # leaves only
        assert any(0.0 in c.inputs["leaves"] for c in cases)


# =========================================================================== 2.2 linear_forward

def test_forward_reference_passes():
    assert_passes("linear_forward", ref.linear_forward)


@pytest.mark.parametrize("answer, phrases", [
    (lambda x, W, b: x @ W, ["bias"]),
    (lambda x, W, b: x @ W.T + b, ["no transpose"]),
    (lambda x, W, b: None, ["None"]),
    (lambda x, W, b: (x @ W + b).tolist(), ["list"]),
    (lambda x, W, b: (x @ W + b).T, ["shape"]),
    (lambda x, W, b: (x @ W + b).astype(np.float32), ["float64"]),
    (lambda x, W, b: x @ W + b + np.nan, ["NaN"]),
    (lambda x, W, b: torch.from_numpy(x @ W + b), ["torch"]),
])
def test_forward_mistakes(answer, phrases):
    assert_fails("linear_forward", answer, *phrases)


def test_forward_in_place_change_of_input():
    def linear_forward(x, W, b):
        x += 0.0
        x *= 1.0
        x[0, 0] += 1.0
        return x @ W + b
    assert_fails("linear_forward", linear_forward, "in place")


# =========================================================================== 2.3 linear_backward

def test_backward_reference_passes():
    assert_passes("linear_backward", ref.linear_backward)


@pytest.mark.parametrize("answer, phrase", [
    (lambda dout, x, W: (dout @ W, dout.T @ x, dout.sum(0)), "Transposes swapped"),
    (lambda dout, x, W: (dout @ W.T, dout.T @ x, dout.sum(0)), "transposed"),
    (lambda dout, x, W: (dout @ W.T, x.T @ dout, dout), "not summed"),
    (lambda dout, x, W: (dout @ W.T, x.T @ dout, dout.mean(0)), "not the mean"),
    (lambda dout, x, W: (dout @ W.T, x.T @ dout / len(x), dout.sum(0)), "division by N"),
    (lambda dout, x, W: (dout @ W.T, x.T @ dout), "tuple (dx, dW, db)"),
    (lambda dout, x, W: None, "tuple (dx, dW, db)"),
    (lambda dout, x, W: (torch.tensor(dout @ W.T), x.T @ dout, dout.sum(0)), "torch"),
    (lambda dout, x, W: (dout @ W.T * np.nan, x.T @ dout, dout.sum(0)), "NaN"),
])
def test_backward_mistakes(answer, phrase):
    assert_fails("linear_backward", answer, phrase)


def test_backward_transposes_swapped_on_rectangular_shapes():
    r = assert_fails("linear_backward", lambda dout, x, W: (dout @ W.T, dout.T @ x, dout.sum(0)),
                     "W's shape", seed=1)
    assert "transposed" in (r.hint or "") or "shape" in r.message


# =========================================================================== 2.4 softmax_cross_entropy

def _ce(logits, y, stable=True, log_of_probs=False, reduce="mean", grad_scale="mean", onehot=True):
    n = len(y)
    z = logits - logits.max(axis=1, keepdims=True) if stable else logits
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    if log_of_probs:
        losses = -np.log(p[np.arange(n), y])
    else:
        losses = -(z[np.arange(n), y] - np.log(np.exp(z).sum(axis=1)))
    loss = losses.mean() if reduce == "mean" else losses.sum() if reduce == "sum" else losses
    d = p.copy()
    if onehot:
        d[np.arange(n), y] -= 1
    return loss, d / n if grad_scale == "mean" else d


def test_ce_reference_passes():
    assert_passes("softmax_cross_entropy", ref.softmax_cross_entropy)
    assert_passes("softmax_cross_entropy", lambda logits, y: _ce(logits, y, log_of_probs=False))


@pytest.mark.parametrize("kwargs, phrase", [
    (dict(stable=False), "maximum"),
    (dict(log_of_probs=True), "log-softmax"),
    (dict(reduce="sum"), "mean"),
    (dict(grad_scale="sum"), "divided by N"),
    (dict(onehot=False), "Subtract 1 at the true class"),
    (dict(reduce="none"), "one number"),
])
def test_ce_mistakes(kwargs, phrase):
    assert_fails("softmax_cross_entropy", lambda logits, y: _ce(logits, y, **kwargs), phrase)


@pytest.mark.parametrize("answer, phrase", [
    (lambda logits, y: None, "tuple (loss, dlogits)"),
    (lambda logits, y: _ce(logits, y)[1], "tuple (loss, dlogits)"),
    (lambda logits, y: (torch.tensor(_ce(logits, y)[0]), _ce(logits, y)[1]), "torch"),
    (lambda logits, y: (_ce(logits, y)[0], _ce(logits, y)[1].tolist()), "list"),
    (lambda logits, y: (_ce(logits, y)[0], -_ce(logits, y)[1]), "sign"),
    (lambda logits, y: (float("nan"), _ce(logits, y)[1]), "NaN"),
])
def test_ce_bad_returns(answer, phrase):
    assert_fails("softmax_cross_entropy", answer, phrase)


# =========================================================================== 2.5 numerical_gradient

def test_ng_reference_passes():
    assert_passes("numerical_gradient", numerical_gradient)


def test_ng_course_helper_agrees_with_autograd():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 3))
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    num = numerical_gradient(lambda _: ref.softmax_cross_entropy(X @ W, y)[0], W)
    Wt = torch.tensor(W, requires_grad=True)
    torch.nn.functional.cross_entropy(torch.tensor(X) @ Wt, torch.tensor(y)).backward()
    np.testing.assert_allclose(num, Wt.grad.numpy(), rtol=1e-6, atol=1e-9)


def _ng(f, x, eps=1e-5, scheme="central", restore=True, copy=False, use_eps=True, dtype=None):
    eps = eps if use_eps else 1e-5
    x = x.copy() if copy else x
    grad = np.zeros(x.shape, dtype=dtype or np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        if scheme == "central":
            x[i] = old - eps
            grad[i] = (fp - f(x)) / (2 * eps)
        else:
            x[i] = old
            grad[i] = (fp - f(x)) / eps
        if restore:
            x[i] = old
    return grad


def test_ng_add_and_subtract_eps_passes():
    def numerical_gradient(f, x, eps=1e-5):
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            x[i] += eps
            fp = f(x)
            x[i] -= 2 * eps
            fm = f(x)
            x[i] += eps                                  # restored up to rounding
            grad[i] = (fp - fm) / (2 * eps)
        return grad
    assert_passes("numerical_gradient", numerical_gradient)


@pytest.mark.parametrize("kwargs, phrase", [
    (dict(scheme="forward"), "forward difference"),
    (dict(restore=False), "left modified"),
    (dict(copy=True), "closure"),
    (dict(dtype=np.float32), "float64"),
])
def test_ng_mistakes(kwargs, phrase):
    assert_fails("numerical_gradient", lambda f, x, eps=1e-5: _ng(f, x, eps, **kwargs), phrase)


@pytest.mark.parametrize("answer, phrase", [
    (lambda f, x, eps=1e-5: None, "None"),
    (lambda f, x, eps=1e-5: _ng(f, x, eps).tolist(), "list"),
    (lambda f, x, eps=1e-5: _ng(f, x, eps).ravel()[:-1], "shape"),
    (lambda f, x, eps=1e-5: _ng(f, x, eps) * np.nan, "NaN"),
    (lambda f, x, eps=1e-5: torch.tensor(_ng(f, x, eps)), "torch"),
])
def test_ng_bad_returns(answer, phrase):
    assert_fails("numerical_gradient", answer, phrase)


def test_ng_ignoring_eps_is_named():
    assert_fails("numerical_gradient", lambda f, x, eps=1e-5: _ng(f, x, eps, use_eps=False),
                 "eps argument")

# --------------------------------------------------------------------------- right answers in other styles
# Run through the notebook's check and through the grader by tests/test_right_answers.py (issue 18).

ALTERNATIVES: dict[str, list[str]] = {
    "Value": [
        # micrograd style: each node keeps a closure that pushes its gradient to its parents
        '''import math


class Value:
    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, n):
        out = Value(self.data ** n, (self,), f"**{n}")

        def _backward():
            self.grad += n * self.data ** (n - 1) * out.grad
        out._backward = _backward
        return out

    def __neg__(self):
        return self * -1

    def __sub__(self, other):
        return self + (-other)

    def __truediv__(self, other):
        return self * other ** -1

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
        out = Value(t, (self,), "tanh")

        def _backward():
            self.grad += (1 - t * t) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            self.grad += (out.data > 0) * out.grad
        out._backward = _backward
        return out

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    build_topo(child)
                topo.append(v)
        build_topo(self)
        self.grad = 1.0
        for v in reversed(topo):
            v._backward()
''',
        # an explicit stack instead of recursion, and a helper method that makes a node
        '''import math


class Value:
    def __init__(self, data, parents=(), local_grads=()):
        self.data = float(data)
        self.grad = 0.0
        self.parents = list(parents)
        self.local_grads = list(local_grads)

    @staticmethod
    def _lift(x):
        return x if isinstance(x, Value) else Value(x)

    def _unary(self, data, local):
        return Value(data, [self], [local])

    def __add__(self, other):
        other = self._lift(other)
        return Value(self.data + other.data, [self, other], [1.0, 1.0])

    def __sub__(self, other):
        other = self._lift(other)
        return Value(self.data - other.data, [self, other], [1.0, -1.0])

    def __mul__(self, other):
        other = self._lift(other)
        return Value(self.data * other.data, [self, other], [other.data, self.data])

    def __truediv__(self, other):
        other = self._lift(other)
        return Value(self.data / other.data, [self, other],
                     [1.0 / other.data, -self.data / other.data ** 2])

    def __pow__(self, n):
        return self._unary(self.data ** n, n * self.data ** (n - 1))

    def __radd__(self, other):
        return self._lift(other) + self

    def __rsub__(self, other):
        return self._lift(other) - self

    def __rmul__(self, other):
        return self._lift(other) * self

    def __rtruediv__(self, other):
        return self._lift(other) / self

    def tanh(self):
        t = math.tanh(self.data)
        return self._unary(t, 1.0 - t ** 2)

    def exp(self):
        e = math.exp(self.data)
        return self._unary(e, e)

    def relu(self):
        return self._unary(max(0.0, self.data), float(self.data > 0))

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:                              # iterative post-order depth-first search
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p in node.parents)
        upstream = {id(self): 1.0}
        for node in reversed(order):
            g = upstream.pop(id(node), 0.0)
            node.grad += g
            for parent, local in zip(node.parents, node.local_grads):
                upstream[id(parent)] = upstream.get(id(parent), 0.0) + g * local
''',
    ],
    "linear_forward": [
        '''def linear_forward(x, W, b):
    return np.einsum("nd,dm->nm", x, W) + b      # np from the notebook's first cell
''',
        '''import numpy as np


def linear_forward(x, W, b):
    out = np.empty((x.shape[0], W.shape[1]), dtype=np.result_type(x, W, b))
    for n in range(x.shape[0]):                   # one row at a time
        out[n] = x[n] @ W + b
    return out
''',
    ],
    "linear_backward": [
        '''from collections import namedtuple

import numpy as np

Grads = namedtuple("Grads", "dx dW db")


def linear_backward(dout, x, W):
    return Grads(dx=np.einsum("nm,dm->nd", dout, W),
                 dW=np.einsum("nd,nm->dm", x, dout),
                 db=np.einsum("nm->m", dout))
''',
        '''import numpy as np


def linear_backward(dout, x, W):
    dx = np.zeros(x.shape, dtype=np.result_type(dout, W))
    dW = np.zeros(W.shape, dtype=np.result_type(dout, x))
    db = np.zeros(dout.shape[1], dtype=dout.dtype)
    for n in range(x.shape[0]):                   # each row adds its own outer product
        dx[n] = W @ dout[n]
        dW += np.outer(x[n], dout[n])
        db += dout[n]
    return [dx, dW, db]
''',
    ],
    "softmax_cross_entropy": [
        '''from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp, softmax


class LossAndGrad(NamedTuple):
    loss: float
    dlogits: np.ndarray


def softmax_cross_entropy(logits, y):
    n = len(y)
    lse = logsumexp(logits, axis=1)                                 # (N,)
    loss = np.mean(lse - logits[np.arange(n), y])
    d = softmax(logits, axis=1)
    d[np.arange(n), y] -= 1
    return LossAndGrad(float(loss), d / n)
''',
        '''def softmax_cross_entropy(logits, y):
    n, c = logits.shape
    total = 0.0
    grad = np.zeros_like(logits, dtype=np.float64)
    for i in range(n):                            # one sample at a time
        row = logits[i] - logits[i].max()
        log_p = row - np.log(np.exp(row).sum())   # log-softmax, never log(0)
        total += -log_p[y[i]]
        grad[i] = np.exp(log_p)
        grad[i, y[i]] -= 1.0
    return total / n, grad / n
''',
    ],
    "numerical_gradient": [
        '''import numpy as np


def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros(x.shape)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        saved = x[i].copy()
        x[i] = saved + eps
        up = f(x)
        x[i] = saved - eps
        down = f(x)
        x[i] = saved
        grad[i] = (up - down) / (2 * eps)
        it.iternext()
    return grad
''',
        '''def numerical_gradient(f, x, eps=1e-5):
    grad = np.empty(x.shape, dtype=np.float64)
    for flat in range(x.size):
        i = np.unravel_index(flat, x.shape)
        original = float(x[i])
        values = []
        for step in (+eps, -eps):
            x[i] = original + step
            values.append(float(f(x)))
        x[i] = original
        grad[i] = (values[0] - values[1]) / (2 * eps)
    return grad
''',
    ],
}
