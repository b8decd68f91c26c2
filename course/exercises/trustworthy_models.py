"""Chapter 09 — trustworthy models: attributions, adversarial examples, privacy.

The checks of 9.1–9.3 take a model. A case describes a small float64 model as plain data
(its kind, layer sizes and the weights drawn from the case's generator); ``call`` builds
that model in the learner's kernel, runs the learner's function and returns plain arrays
and facts (the attributions or adversarial images, whether gradients were left in the
parameters, ``model.training`` after the call, whether parameters or buffers changed);
``judge`` rebuilds the same model in the grader's process and recomputes the answer there.

Oracles: integrated gradients in closed form for a linear model and by autograd, one
interpolation point at a time, for the others (9.1); FGSM and PGD recomputed with
``torch.autograd.grad`` (9.2, 9.3); ``min(1, C / ‖g‖)`` per row, cross-checked against
``torch.nn.utils.clip_grad_norm_`` (9.4); ``sklearn.metrics.roc_auc_score`` (9.5). The
``reference_*`` functions are what the notebook uses while an exercise is not done yet.
"""
from __future__ import annotations

import numpy as np

from course.exercise import (Case, Exercise, TensorData, Wrong, as_float, describe,
                             expect_number, expect_tensor, register)

# --------------------------------------------------------------------------- small models as data

KINDS = ("linear", "mlp", "cnn", "bn")


def _layers(kind: str, in_shape, hidden: int, classes: int):
    """The nn.Sequential of a case model (float64, eval mode), with default weights."""
    import torch
    from torch import nn

    C, H, W = in_shape
    if kind == "linear":                      # logits = W x + b: IG has a closed form
        layers = [nn.Flatten(), nn.Linear(C * H * W, classes)]
    elif kind == "mlp":                       # smooth: tanh
        layers = [nn.Flatten(), nn.Linear(C * H * W, hidden), nn.Tanh(), nn.Linear(hidden, classes)]
    elif kind == "cnn":                       # ReLU and max pooling
        layers = [nn.Conv2d(C, hidden, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Linear(hidden * (H // 2) * (W // 2), classes)]
    elif kind == "bn":                        # BatchNorm: eval and training mode differ
        layers = [nn.Conv2d(C, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.Tanh(),
                  nn.Flatten(), nn.Linear(hidden * H * W, classes)]
    else:
        raise ValueError(kind)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = nn.Sequential(*layers)
    return model.double().eval()


def random_model(rng: np.random.Generator, kind: str, in_shape=(1, 8, 8), hidden: int = 6,
                 classes: int = 5) -> dict:
    """A model as plain data: its kind, sizes, and parameters and buffers drawn from ``rng``."""
    model = _layers(kind, in_shape, hidden, classes)
    params = []
    for p in model.parameters():
        fan_in = int(np.prod(p.shape[1:])) if p.dim() > 1 else 1
        scale = 1.5 / np.sqrt(fan_in) if p.dim() > 1 else 0.3
        params.append(rng.normal(0, scale, size=tuple(p.shape)))
    buffers = []
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            buffers.append(rng.normal(0, 0.3, size=tuple(b.shape)))
        elif name.endswith("running_var"):
            buffers.append(rng.uniform(0.5, 2.0, size=tuple(b.shape)))
        else:                                 # num_batches_tracked
            buffers.append(np.array(int(b)))
    return {"kind": kind, "in_shape": list(in_shape), "hidden": hidden, "classes": classes,
            "params": params, "buffers": buffers}


def build_model(spec: dict):
    """The torch model (float64, eval mode, no gradients yet) that ``spec`` describes."""
    import torch

    model = _layers(spec["kind"], spec["in_shape"], spec["hidden"], spec["classes"])
    with torch.no_grad():
        for p, w in zip(model.parameters(), spec["params"]):
            p.copy_(torch.as_tensor(np.asarray(w), dtype=p.dtype))
        for b, w in zip(model.buffers(), spec["buffers"]):
            b.copy_(torch.as_tensor(np.asarray(w), dtype=b.dtype))
    return model


def _state(model) -> list[np.ndarray]:
    return [t.detach().clone().numpy() for t in list(model.parameters()) + list(model.buffers())]


def _model_facts(model, before: list[np.ndarray]) -> dict:
    """What a function that must leave the model alone did to it."""
    after = _state(model)
    grads = [p.grad for p in model.parameters()]
    return {"training": bool(model.training),
            "grads_left": any(g is not None and bool(g.abs().sum() > 0) for g in grads),
            "params_changed": any(not np.array_equal(a, b) for a, b in zip(before, after)),
            "requires_grad_changed": not all(p.requires_grad for p in model.parameters())}


def _images(rng: np.random.Generator, n: int, in_shape=(1, 8, 8)) -> np.ndarray:
    """Digit-like images in [0, 1]: about half the pixels exactly 0, some exactly 1."""
    x = rng.uniform(0, 1, size=(n, *in_shape))
    x[rng.random(x.shape) < 0.45] = 0.0
    x[rng.random(x.shape) < 0.1] = 1.0
    return x


def _tensor_output(got, x_shape, what="output") -> np.ndarray:
    arr = expect_tensor(got, x_shape, what, shape_hint="It is a tensor like x, of x's shape.",
                        numpy_hint="Keep working in torch and return the tensor.")
    if got.dtype != "torch.float64":
        raise Wrong(f"{what} has dtype {got.dtype}; the model and x are float64, so should it be.",
                    "Do not cast: compute in the dtype of x.")
    if not np.all(np.isfinite(arr)):
        raise Wrong(f"{what} contains NaN or inf.")
    return arr


def _mismatch(got: np.ndarray, ref: np.ndarray, atol: float = 1e-7) -> float:
    """Fraction of entries that differ (an attack's sign may flip where the gradient is ~0)."""
    return float(np.mean(np.abs(got - ref) > atol + 1e-6 * np.abs(ref)))


def _model_problems(facts: dict, attack: bool) -> None:
    """Wrong if the learner's function left the model changed (checked before the values)."""
    if facts.get("training"):
        raise Wrong("the model is in training mode after your call (it was given in eval mode).",
                    "Do not call model.train() in an attack: BatchNorm and dropout then behave "
                    "differently. If you switch modes, restore the mode you found.")
    if facts.get("params_changed"):
        raise Wrong("the model's parameters or buffers changed during your call.",
                    "An attack only reads the model: no optimizer step, and do not run it in "
                    "training mode (BatchNorm then updates its running statistics).")
    if facts.get("requires_grad_changed"):
        raise Wrong("some parameters no longer require gradients after your call.",
                    "Leave p.requires_grad alone: take the gradient with respect to x only, "
                    "e.g. torch.autograd.grad(loss, x).")
    if attack and facts.get("grads_left"):
        raise Wrong("gradients were left in the model's parameters (p.grad is not None).",
                    "loss.backward() also fills p.grad of every parameter, and the next optimizer "
                    "step would use it. Take the gradient with respect to x alone with "
                    "torch.autograd.grad(loss, x), or zero the parameters' gradients afterwards.")


# --------------------------------------------------------------------------- 9.1

def reference_integrated_gradients(model, x, target, baseline=None, steps=50):
    """IG_i = (x_i − x'_i) · (1/m) Σ_{k=1..m} ∂F_target(x' + (k/m)(x − x'))/∂x_i (a right Riemann sum).

    x (N, ...) -> attributions (N, ...); target an int or an (N,) tensor; baseline x' like x
    (zeros by default).
    """
    import torch

    baseline = torch.zeros_like(x) if baseline is None else baseline
    target = torch.as_tensor(target).expand(len(x))                     # (N,)
    total = torch.zeros_like(x)
    for k in range(1, steps + 1):
        point = (baseline + k / steps * (x - baseline)).detach().requires_grad_(True)
        score = model(point).gather(1, target[:, None]).sum()            # Σ_n F_{t_n}(point_n)
        total += torch.autograd.grad(score, point)[0]
    return (x - baseline) * total / steps


def _ig_variant(model, x, target, baseline, steps, alphas=None, times="difference", score="target"):
    """Integrated gradients with one thing changed: what a known mistake computes."""
    import torch

    target = torch.as_tensor(target).expand(len(x))
    alphas = [k / steps for k in range(1, steps + 1)] if alphas is None else alphas
    total = torch.zeros_like(x)
    for a in alphas:
        point = (baseline + a * (x - baseline)).detach().requires_grad_(True)
        out = model(point)
        s = out.sum() if score == "all" else out.gather(1, target[:, None]).sum()
        total += torch.autograd.grad(s, point)[0]
    mean = total / len(alphas)
    return {"difference": (x - baseline) * mean, "none": mean, "x": x * mean,
            "sum": (x - baseline) * total}[times]


def _ig_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, kind, n, target, baseline="zeros", steps=None, in_shape=(1, 8, 8), classes=5):
        spec = random_model(rng, kind, in_shape=in_shape, classes=classes)
        x = _images(rng, n, in_shape)
        if isinstance(target, str):                     # a different class per image
            target = rng.integers(0, classes, size=n)
        inputs = dict(model=spec, x=x, target=target, steps=steps)
        if baseline == "random":
            inputs["baseline"] = rng.uniform(0, 0.5, size=x.shape)
        elif baseline == "zeros":
            inputs["baseline"] = np.zeros_like(x)
        else:                                           # not given: the default
            inputs["baseline"] = None
        return Case(label, inputs)

    return [
        case("tanh MLP, a target per image, default baseline and steps", "mlp", 4, "per image",
             baseline=None),
        case("linear model, a non-zero baseline, steps=20 (closed form)", "linear", 3,
             int(rng.integers(0, 5)), baseline="random", steps=20),
        case("CNN with ReLU and max pooling, steps=7", "cnn", 3, int(rng.integers(0, 5)), steps=7),
        case("BatchNorm model in eval mode, a non-zero baseline, steps=13", "bn", 2, "per image",
             baseline="random", steps=13),
        case("batch of 1, 3 channels of 4×6, steps=50", "mlp", 1, "per image", baseline="random",
             steps=50, in_shape=(3, 4, 6)),
    ]


def _ig_call(answer, model, x, target, baseline, steps):
    import torch

    net = build_model(model)
    before = _state(net)
    xt = torch.tensor(x)
    t = int(target) if np.ndim(target) == 0 else torch.tensor(target)
    kwargs = {}
    if baseline is not None:
        kwargs["baseline"] = torch.tensor(baseline)
    if steps is not None:
        kwargs["steps"] = steps
    out = answer(net, xt, t, **kwargs)
    facts = _model_facts(net, before)
    facts.pop("grads_left")                 # IG may use backward(): not a mistake here
    return {"attributions": out, "x_changed": not np.array_equal(xt.numpy(), x), **facts}


def _ig_judge(inputs: dict, got) -> None:
    import torch

    if not isinstance(got, dict):
        raise Wrong("the check could not read your result back.")
    x = inputs["x"]
    attr = _tensor_output(got["attributions"], x.shape, "attributions")
    if got["x_changed"]:
        raise Wrong("your function changed x in place.", "Build new tensors; do not write into x.")
    _model_problems(got, attack=False)
    spec, steps = inputs["model"], inputs["steps"] or 50
    model = build_model(spec)
    xt = torch.tensor(x)
    base = torch.zeros_like(xt) if inputs["baseline"] is None else torch.tensor(inputs["baseline"])
    target = torch.as_tensor(np.asarray(inputs["target"]))
    if spec["kind"] == "linear":            # the oracle: IG of W x + b is W_t ⊙ (x − x')
        W = torch.tensor(np.asarray(spec["params"][0]))                    # (K, D)
        ref = (W[target.expand(len(x))].reshape(xt.shape) * (xt - base)).numpy()
    else:
        ref = reference_integrated_gradients(model, xt, target, base, steps).detach().numpy()
    if np.allclose(attr, ref, rtol=1e-6, atol=1e-9):
        return
    variants = [
        (dict(times="none"), "The (x − baseline) factor is missing: multiply the averaged "
                             "gradient by (x − baseline)."),
        (dict(alphas=[k / steps for k in range(steps)]),
         "That is a left Riemann sum (α = 0, 1/m, …, (m−1)/m). The contract uses the right "
         "sum: α = k/m for k = 1..m, so the last point is x itself."),
        (dict(alphas=[k / steps for k in range(steps + 1)]),
         "You used m + 1 points (α = 0..1). Use α = k/m for k = 1..m."),
        (dict(score="all"), "You took the gradient of the sum over all classes. Take the "
                            "gradient of the target class's output only: model(x)[n, target[n]]."),
        (dict(alphas=[1.0], times="x"), "That is gradient × input, not integrated gradients: "
                                        "average the gradient along the path from the baseline to x."),
        (dict(times="x"), "Multiply by (x − baseline), not by x."),
        (dict(times="sum"), "Average the gradients over the m steps: divide their sum by m."),
    ]
    for change, hint in variants:
        if spec["kind"] == "linear" and "alphas" in change:   # a constant gradient: no difference
            continue
        expected = _ig_variant(model, xt, target, base, steps, **change).detach().numpy()
        if np.allclose(attr, expected, rtol=1e-6, atol=1e-9):
            raise Wrong("attributions differ from the reference.", hint)
    err = float(np.max(np.abs(attr - ref)))
    gap = float(attr.sum() - ref.sum())
    raise Wrong(f"attributions differ from the reference (max error {err:.3g}; their sum is off "
                f"by {gap:.3g}).",
                "Check the target: one class per image (an int or an (N,) tensor), and that "
                "`steps` and `baseline` are used as given.")


register(Exercise(
    id="9.1", name="integrated_gradients", make_cases=_ig_cases, call=_ig_call, judge=_ig_judge,
    hint="attributions = (x − x') · mean over k = 1..m of ∇ model(x' + (k/m)(x − x'))[target].",
    summary="incl. a closed form for a linear model, a target per image, BatchNorm and the defaults"))


# --------------------------------------------------------------------------- 9.2, 9.3

def reference_fgsm(model, x, y, eps):
    """x_adv = clamp(x + eps · sign(∇ₓ CE(model(x), y)), 0, 1), detached; the model is only read."""
    import torch
    import torch.nn.functional as F

    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    grad, = torch.autograd.grad(loss, x)              # no gradient reaches the parameters
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def reference_pgd(model, x, y, eps, step_size, steps):
    """From x itself, `steps` times: x ← clamp(Π_{‖x'−x‖∞ ≤ eps}(x + step_size · sign(∇ₓ CE)), 0, 1)."""
    import torch
    import torch.nn.functional as F

    x = x.detach()
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)   # project onto the ball
        x_adv = x_adv.clamp(0, 1)                                        # stay an image
    return x_adv


def _attack_variant(model, x, y, eps, step_size, steps, direction=1.0, use_sign=True,
                    project="x", clamp=True):
    """FGSM (steps=1, step_size=eps) or PGD with one thing changed."""
    import torch
    import torch.nn.functional as F

    x_adv = x.clone()
    for _ in range(steps):
        prev = x_adv.detach()
        x_adv = prev.clone().requires_grad_(True)
        grad, = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = prev + direction * step_size * (grad.sign() if use_sign else grad)
        if project == "x":
            x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps)
        elif project == "previous":
            x_adv = torch.minimum(torch.maximum(x_adv, prev - eps), prev + eps)
        if clamp:
            x_adv = x_adv.clamp(0, 1)
    return x_adv.detach().numpy()


def _attack_cases(rng: np.random.Generator, pgd: bool) -> list[Case]:
    def case(label, kind, n, eps, step_size=None, steps=None, train_mode=False):
        spec = random_model(rng, kind)
        inputs = dict(model=spec, x=_images(rng, n), y=rng.integers(0, spec["classes"], size=n),
                      eps=eps)
        if pgd:
            inputs.update(step_size=step_size, steps=steps)
        return Case(label, inputs)

    if not pgd:
        return [case("tanh MLP, eps=0.1", "mlp", 5, 0.1),
                case("CNN with ReLU and max pooling, eps=0.03", "cnn", 4, 0.03),
                case("BatchNorm model in eval mode, eps=0.2", "bn", 6, 0.2),
                case("batch of 1, eps=0.5", "mlp", 1, 0.5)]
    return [case("step_size=0.25 > eps=0.1, 3 steps", "mlp", 4, 0.1, 0.25, 3),
            case("tanh MLP, eps=0.1, step_size=0.03, 10 steps", "mlp", 5, 0.1, 0.03, 10),
            case("CNN with ReLU and max pooling, eps=0.05, step_size=0.02, 8 steps", "cnn", 4, 0.05, 0.02, 8),
            case("BatchNorm model in eval mode, eps=0.2, step_size=0.05, 6 steps", "bn", 5, 0.2, 0.05, 6),
            case("one step of size eps (FGSM), batch of 1", "mlp", 1, 0.3, 0.3, 1)]


def _attack_call(answer, model, x, y, eps, step_size=None, steps=None):
    import torch

    def once():
        net = build_model(model)
        before = _state(net)
        xt, yt = torch.tensor(x), torch.tensor(y)
        args = (eps,) if steps is None else (eps, step_size, steps)
        out = answer(net, xt, yt, *args)
        facts = _model_facts(net, before)
        facts["x_changed"] = not np.array_equal(xt.numpy(), x)
        facts["requires_grad"] = bool(getattr(out, "requires_grad", False))
        return out, facts

    out, facts = once()
    again, _ = once()
    same = isinstance(out, torch.Tensor) and isinstance(again, torch.Tensor) \
        and out.shape == again.shape and torch.equal(out.detach(), again.detach())
    return {"x_adv": out, "deterministic": same, **facts}


def _attack_judge(inputs: dict, got, pgd: bool) -> None:
    import torch

    if not isinstance(got, dict):
        raise Wrong("the check could not read your result back.")
    x, eps = inputs["x"], inputs["eps"]
    adv = _tensor_output(got["x_adv"], x.shape, "x_adv")
    if got["x_changed"]:
        raise Wrong("your function changed x in place.",
                    "Work on a copy: x_adv = x.clone() (or x + ...), never x += ... .")
    _model_problems(got, attack=True)
    if got["requires_grad"]:
        raise Wrong("x_adv still requires grad: it is attached to the attack's graph.",
                    "Return x_adv.detach().")
    model = build_model(inputs["model"])
    xt, yt = torch.tensor(x), torch.tensor(inputs["y"])
    step_size, steps = (inputs["step_size"], inputs["steps"]) if pgd else (eps, 1)
    run = reference_pgd(model, xt, yt, eps, step_size, steps) if pgd else reference_fgsm(model, xt, yt, eps)
    ref = run.numpy()
    if _mismatch(adv, ref) <= 0.01:
        return
    name = "PGD" if pgd else "FGSM"
    clamp_hint = "Clamp x_adv to [0, 1] (pixel values)" + (" after each step." if pgd else ".")
    variants = [(dict(clamp=False), clamp_hint),
                (dict(direction=-1.0), "That steps down the gradient, lowering the loss. The "
                                       "attack goes up: x + eps · sign(∇ₓ loss)."),
                (dict(use_sign=False), "Use the sign of the gradient, not the raw gradient: "
                                       "x + step · sign(∇ₓ loss).")]
    if pgd:
        variants += [(dict(project="previous"), "You projected around the previous iterate. "
                      "Project onto the eps-ball around the original x: "
                      "x_adv = min(max(x_adv, x − eps), x + eps)."),
                     (dict(project=None), "No projection: after each step, bring x_adv back "
                      "within eps of the original x: min(max(x_adv, x − eps), x + eps).")]
    for change, hint in variants:
        expected = _attack_variant(model, xt, yt, eps, step_size, steps, **change)
        if _mismatch(adv, expected) <= 0.01:
            raise Wrong(f"x_adv differs from {name} in {_mismatch(adv, ref):.0%} of the pixels.", hint)
    if adv.min() < -1e-12 or adv.max() > 1 + 1e-12:
        raise Wrong(f"x_adv has values in [{adv.min():.3g}, {adv.max():.3g}], outside [0, 1].",
                    clamp_hint)
    if np.abs(adv - x).max() > eps + 1e-9:
        raise Wrong(f"x_adv is {np.abs(adv - x).max():.3g} away from x (L∞), more than eps = {eps}.",
                    "Project onto the eps-ball around the original x after each step."
                    if pgd else "Each pixel moves by at most eps: x + eps · sign(∇ₓ loss).")
    if pgd and not got["deterministic"]:
        raise Wrong("two calls on the same input gave different x_adv.",
                    "No random start in this contract: PGD starts from x itself.")
    hint = ("PGD here starts from x itself (no random start) and takes `steps` steps of "
            "step_size · sign(∇ₓ CE(model(x_adv), y)), projecting and clamping after each."
            if pgd else "x_adv = clamp(x + eps · sign(∇ₓ CE(model(x), y)), 0, 1), with the "
            "loss of the true labels y.")
    raise Wrong(f"x_adv differs from {name} in {_mismatch(adv, ref):.0%} of the pixels.", hint)


register(Exercise(
    id="9.2", name="fgsm", make_cases=lambda rng: _attack_cases(rng, pgd=False), call=_attack_call,
    judge=lambda inputs, got: _attack_judge(inputs, got, pgd=False),
    hint="x_adv = clamp(x + eps · sign(∇ₓ CE(model(x), y)), 0, 1), detached; take ∇ₓ with "
         "torch.autograd.grad so that no gradient lands in the parameters.",
    summary="incl. ReLU/max-pool and BatchNorm models; model left untouched, no gradients left in it"))

register(Exercise(
    id="9.3", name="pgd", make_cases=lambda rng: _attack_cases(rng, pgd=True), call=_attack_call,
    judge=lambda inputs, got: _attack_judge(inputs, got, pgd=True),
    hint="Start at x; each step: x_adv + step_size · sign(∇), then project onto "
         "[x − eps, x + eps] (around the original x), then clamp to [0, 1].",
    summary="incl. step_size > eps, one-step PGD and a BatchNorm model; model left untouched"))


# --------------------------------------------------------------------------- 9.4

def reference_clip_per_sample(grads, max_norm):
    """grads (B, P) -> each row g_i scaled by min(1, C / ‖g_i‖₂) (a zero row stays zero)."""
    import torch

    norms = torch.linalg.vector_norm(grads, dim=1, keepdim=True)           # (B, 1)
    factor = torch.clamp(max_norm / norms, max=1.0)                          # C / 0 = inf -> 1
    return grads * factor                                                    # (B, P)


def _clip_cases(rng: np.random.Generator) -> list[Case]:
    def rows(b, p, norms):
        g = rng.normal(size=(b, p))
        return g / np.linalg.norm(g, axis=1, keepdims=True) * np.asarray(norms)[:, None]

    mixed = rows(6, 10, [0.3, 0.8, 1.5, 2.0, 4.0, 0.6])
    edge = rows(5, 7, [1.0, 0.0, 3.0, 0.5, 1.0])
    edge[1] = 0.0
    return [Case("6 rows around max_norm=1", dict(grads=mixed, max_norm=1.0)),
            Case("32 rows of 100, float32, max_norm=0.5",
                 dict(grads=rows(32, 100, rng.uniform(0.1, 3.0, size=32)).astype(np.float32), max_norm=0.5)),
            Case("a zero row and rows exactly at the bound", dict(grads=edge, max_norm=1.0)),
            Case("every row under the bound", dict(grads=rows(4, 5, [0.1, 0.5, 0.9, 1.2]), max_norm=2.0)),
            Case("a batch of 1, norm 5, max_norm=2", dict(grads=rows(1, 12, [5.0]), max_norm=2.0))]


def _clip_call(answer, grads, max_norm):
    import torch

    g = torch.tensor(grads)
    out = answer(g, max_norm)
    return {"clipped": out, "mutated": not np.array_equal(g.numpy(), grads)}


def _clip_judge(inputs: dict, got) -> None:
    import torch

    if not isinstance(got, dict):
        raise Wrong("the check could not read your result back.")
    grads, C = inputs["grads"], inputs["max_norm"]
    out = got["clipped"]
    arr = expect_tensor(out, grads.shape, "the result", shape_hint="Keep the (B, P) shape, one row "
                        "per sample: take the norm with keepdim=True so that it broadcasts.")
    if got["mutated"]:
        raise Wrong("your function changed grads in place.", "Return a new tensor: grads * factor.")
    want = "torch.float64" if grads.dtype == np.float64 else "torch.float32"
    if out.dtype != want:
        raise Wrong(f"returned dtype {out.dtype}, expected {want} (the dtype of grads).")
    if not np.all(np.isfinite(arr)):
        raise Wrong("the result contains NaN or inf.",
                    "A zero row has norm 0: its factor min(1, C / 0) is 1, and the row stays 0. "
                    "torch.clamp(C / norm, max=1.0) handles it; dividing grads by the norm does not.")
    g = torch.tensor(grads, dtype=torch.float64)
    norms = np.sqrt((grads.astype(np.float64) ** 2).sum(axis=1, keepdims=True))       # (B, 1)
    with np.errstate(divide="ignore"):
        ref = grads * np.minimum(1.0, C / norms)                                        # the formula
    for row, r in zip(g, ref):                       # cross-check with PyTorch's own clipping
        param = torch.zeros_like(row, requires_grad=True)
        param.grad = row.clone()
        torch.nn.utils.clip_grad_norm_([param], C)
        assert np.allclose(param.grad.numpy(), r, rtol=1e-5, atol=1e-6), "clip_grad_norm_ disagrees"
    tol = dict(rtol=1e-5, atol=1e-6) if grads.dtype == np.float32 else dict(rtol=1e-6, atol=1e-9)
    if np.allclose(arr, ref, **tol):
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        total = np.sqrt((grads.astype(np.float64) ** 2).sum())
        variants = [
            (grads * min(1.0, C / total), "You clipped the batch's total norm. DP-SGD clips each "
             "sample's gradient (each row) by its own norm: norm over dim=1."),
            (grads * np.where(norms > 0, C / norms, 1.0), "Rows whose norm is already under "
             "max_norm must stay as they are: the factor is min(1, C / ‖g‖), never above 1."),
            (grads * np.minimum(1.0, C / norms ** 2), "Use the norm ‖g‖₂ = sqrt(Σ g²), not the "
             "squared norm."),
            (grads * np.minimum(1.0, C / np.abs(grads).sum(1, keepdims=True)),
             "Use the L2 norm sqrt(Σ g²), not the L1 norm Σ|g|."),
        ]
    for expected, hint in variants:
        if np.allclose(arr, expected, **tol):
            raise Wrong("the clipped gradients differ from g · min(1, C / ‖g‖₂) row by row.", hint)
    bad = int(np.argmax(np.abs(arr - ref).max(axis=1)))
    raise Wrong(f"row {bad} differs from g · min(1, C / ‖g‖₂) (norm {norms[bad, 0]:.3g}, "
                f"max_norm {C}).")


register(Exercise(
    id="9.4", name="clip_per_sample", make_cases=_clip_cases, call=_clip_call, judge=_clip_judge,
    hint="norms = ‖row‖₂ with keepdim=True (B, 1); return grads * clamp(max_norm / norms, max=1).",
    summary="incl. a zero row, rows at and under the bound, float32 and a batch of 1",
    forbidden=("torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_norm",
               "torch.nn.utils.clip_grads_with_norm_", "opacus")))


# --------------------------------------------------------------------------- 9.5

def reference_roc_auc(member_scores, nonmember_scores):
    """P(a member scores higher than a non-member), ties counting one half (the Mann–Whitney U)."""
    m = np.asarray(member_scores, dtype=np.float64)[:, None]                  # (M, 1)
    n = np.asarray(nonmember_scores, dtype=np.float64)[None, :]               # (1, N)
    return float(np.mean((m > n) + 0.5 * (m == n)))                            # over (M, N) pairs


def _auc_cases(rng: np.random.Generator) -> list[Case]:
    return [
        Case("continuous scores, 40 members and 30 non-members",
             dict(member_scores=rng.normal(0.5, 1, size=40), nonmember_scores=rng.normal(0, 1, size=30))),
        Case("integer scores with many ties",
             dict(member_scores=rng.integers(0, 5, size=50).astype(float),
                  nonmember_scores=rng.integers(0, 4, size=60).astype(float))),
        Case("losses as scores: members lower (AUC < 0.5)",
             dict(member_scores=rng.exponential(0.2, size=25), nonmember_scores=rng.exponential(1.0, size=35))),
        Case("every score equal", dict(member_scores=np.full(7, 0.3), nonmember_scores=np.full(4, 0.3))),
        Case("perfectly separated", dict(member_scores=rng.uniform(2, 3, size=9),
                                         nonmember_scores=rng.uniform(0, 1, size=6))),
        Case("one member and one non-member, tied", dict(member_scores=np.array([1.5]),
                                                         nonmember_scores=np.array([1.5]))),
        Case("600 and 400 scores rounded to 1 decimal",
             dict(member_scores=np.round(rng.normal(0.3, 1, size=600), 1),
                  nonmember_scores=np.round(rng.normal(0, 1, size=400), 1))),
    ]


def _auc_judge(inputs: dict, got) -> None:
    from sklearn.metrics import roc_auc_score

    m, n = inputs["member_scores"], inputs["nonmember_scores"]
    if isinstance(got, TensorData):
        raise Wrong("returned a torch.Tensor; this exercise is NumPy in, a float out.",
                    "Return float(...).")
    if as_float(got) is None:
        raise Wrong(f"returned {describe(got)}, expected a float.", "Did you forget a return statement?")
    labels = np.r_[np.ones(len(m)), np.zeros(len(n))]
    scores = np.r_[m, n]
    # the oracle; with a single class present roc_auc_score is undefined, and all ties give 1/2
    ref = float(roc_auc_score(labels, scores)) if len(np.unique(scores)) > 1 else 0.5
    value = float(as_float(got))
    if np.isclose(value, ref, rtol=1e-9, atol=1e-12):
        return
    greater = (m[:, None] > n[None, :]).mean()
    ties = (m[:, None] == n[None, :]).mean()
    mistakes = [(greater, "Ties count one half: a pair with equal scores adds 0.5, not 0."),
                (greater + ties, "Ties count one half: a pair with equal scores adds 0.5, not 1."),
                (1 - ref, "The arguments are swapped (you computed 1 − AUC): the AUC is the "
                          "probability that a MEMBER scores higher than a non-member."),
                (greater / max(1e-12, 1 - ties), "Do not drop the tied pairs: they count one half.")]
    for expected, hint in mistakes:
        if np.isclose(value, expected, rtol=1e-9, atol=1e-12):
            raise Wrong(f"AUC is {value:.6g}, expected {ref:.6g} (scikit-learn's roc_auc_score).", hint)
    expect_number(value, ref, "AUC")


register(Exercise(
    id="9.5", name="roc_auc", make_cases=_auc_cases, judge=_auc_judge,
    call=lambda answer, member_scores, nonmember_scores: answer(member_scores, nonmember_scores),
    hint="Compare every member with every non-member: mean of (m > n) + 0.5 · (m == n).",
    summary="incl. ties, equal scores, perfect separation and 600 × 400 scores",
    forbidden=("sklearn.metrics.roc_auc_score", "sklearn.metrics.roc_curve", "sklearn.metrics.auc",
               "scipy.stats.mannwhitneyu")))
