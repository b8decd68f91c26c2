"""Chapter 06 — training in practice: preprocessing, initialisation, loss, optimiser, evaluation.

Each exercise is judged against an independent oracle: scikit-learn's ``StandardScaler``,
statistics of tensors filled by ``torch.nn.init``, ``F.cross_entropy`` with autograd,
``torch.optim.Adam``, set arithmetic on the folds, and the closed form of the schedule.
The ``reference_*`` functions are what the notebook falls back on (``yours_or``) until the
learner's own versions exist.
"""
from __future__ import annotations

import math

import numpy as np

from course.exercise import (Case, Exercise, TensorData, Wrong, as_float, describe,
                             expect_array, register)


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray)


# --------------------------------------------------------------------------- 6.1

def reference_standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z = (x - μ) / σ per feature, μ and σ (ddof=0) from ``train`` only; σ = 0 -> 1."""
    mean = train.mean(axis=0)                       # (D,)
    std = train.std(axis=0)                         # (D,)
    std = np.where(std == 0, 1.0, std)
    return (train - mean) / std, (test - mean) / std


def _scaled(train, test, stats_from):
    mean, std = stats_from.mean(axis=0), stats_from.std(axis=0)
    std = np.where(std == 0, 1.0, std)
    return (train - mean) / std, (test - mean) / std


def _standardize_cases(rng: np.random.Generator) -> list[Case]:
    def data(n, d, shift=0.0, scale=1.0):
        loc = rng.normal(0, 3, size=d)
        spread = rng.uniform(0.5, 4, size=d)
        return loc + shift + scale * spread * rng.normal(size=(n, d))

    cases = []
    train, test = data(40, 5), data(25, 5, shift=2.0, scale=1.5)
    cases.append(Case("features of different scales; test data shifted", dict(train=train, test=test)))
    train, test = data(30, 4), data(12, 4, shift=1.0)
    train[:, 2] = 1.5                                    # constant on train, not on test
    cases.append(Case("a feature constant on train (std 0)", dict(train=train, test=test)))
    img_train = rng.uniform(0, 1, size=(36, 16)).astype(np.float32)
    img_test = rng.uniform(0, 1, size=(10, 16)).astype(np.float32)
    img_train[:, 0] = 0.0                                # a blank border pixel, like the digits
    img_test[:3, 0] = 0.5
    cases.append(Case("float32 pixels with an all-zero column", dict(train=img_train, test=img_test)))
    cases.append(Case("one training row (every std is 0)", dict(train=data(1, 3), test=data(4, 3))))
    cases.append(Case("one test row", dict(train=data(20, 6), test=data(1, 6, shift=1.0))))
    return cases


def _standardize_judge(inputs: dict, got) -> None:
    from sklearn.preprocessing import StandardScaler

    train, test = inputs["train"], inputs["test"]
    scaler = StandardScaler().fit(train.astype(np.float64))      # the oracle
    refs = [scaler.transform(a.astype(np.float64)).astype(a.dtype) for a in (train, test)]
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Wrong(f"returned {describe(got)}, expected a pair (train_std, test_std).",
                    "return train_std, test_std")
    rtol = 1e-6 if train.dtype == np.float64 else 1e-4
    for what, g, ref in zip(("train_std", "test_std"), got, refs):
        if _is_array(g) and g.shape == ref.shape and g.dtype.kind == "f" and not np.all(np.isfinite(g)):
            raise Wrong(f"{what} contains NaN or inf.",
                        "A feature with std 0 on train (a constant column) divides by 0: use 1 "
                        "for those features, e.g. std = np.where(std == 0, 1.0, std).")
        try:
            expect_array(g, ref, what, rtol=rtol, atol=rtol)
        except Wrong as w:
            if w.hint is None and _is_array(g) and g.shape == ref.shape:
                w.hint = _standardize_mistake(train, test, what, g, rtol)
            raise


def _standardize_mistake(train, test, what, g, rtol) -> str | None:
    index = 0 if what == "train_std" else 1
    both = np.concatenate([train, test])
    with np.errstate(all="ignore"):
        sample_std = (train - train.mean(0)) / np.where(train.std(0, ddof=1) == 0, 1, train.std(0, ddof=1))
        mistakes = [
            (_scaled(train, test, test)[index],
             "The statistics come from the test data: fit mean and std on train only."),
            (_scaled(train, test, both)[index],
             "The statistics come from train and test together: that leaks the test set. "
             "Fit mean and std on train only."),
            (sample_std if index == 0 else None,
             "Use the population std (ddof=0, NumPy's default), as scikit-learn's StandardScaler does."),
            (((train, test)[index] - train.mean()) / (train.std() or 1.0),
             "Standardise each feature (column) separately: mean(axis=0), std(axis=0)."),
        ]
    for candidate, hint in mistakes:
        if candidate is not None and np.allclose(g, candidate, rtol=rtol, atol=rtol, equal_nan=False):
            return hint
    return None


register(Exercise(
    id="6.1", name="standardize", make_cases=_standardize_cases, judge=_standardize_judge,
    hint="mean and std per feature (axis=0) from train only; where std is 0 use 1.",
    summary="incl. constant features, float32 and a single training row",
    forbidden=("torch",)))


# --------------------------------------------------------------------------- 6.2, 6.3

def reference_xavier_uniform_(tensor):
    import torch
    return torch.nn.init.xavier_uniform_(tensor)


def reference_he_normal_(tensor):
    import torch
    return torch.nn.init.kaiming_normal_(tensor, mode="fan_in", nonlinearity="relu")


def _init_cases(rng: np.random.Generator) -> list[Case]:
    seeds = [int(x) for x in rng.integers(0, 2**31, size=7)]
    return [Case("weight (fan_out=256, fan_in=1024)", dict(shape=[256, 1024], seed=seeds[0], parameter=False)),
            Case("weight (fan_out=2048, fan_in=128)", dict(shape=[2048, 128], seed=seeds[1], parameter=False)),
            Case("an nn.Parameter (300, 200) that requires grad",
                 dict(shape=[300, 200], seed=seeds[2], parameter=True)),
            Case("weight (fan_out=64, fan_in=4096)", dict(shape=[64, 4096], seed=seeds[3], parameter=False)),
            Case("a Conv2d weight (128, 32, 3, 3): fan_in = 32·9, fan_out = 128·9",
                 dict(shape=[128, 32, 3, 3], seed=seeds[4], parameter=False)),
            Case("a Conv2d weight as an nn.Parameter (48, 16, 5, 5): receptive field 25",
                 dict(shape=[48, 16, 5, 5], seed=seeds[5], parameter=True)),
            Case("a Conv1d weight (96, 32, 7): receptive field 7",
                 dict(shape=[96, 32, 7], seed=seeds[6], parameter=False))]


def _fans(shape) -> tuple[int, int, int]:
    """(fan_in, fan_out, receptive field) as torch.nn.init computes them for shape (out, in, *kernel)."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive, receptive


def _init_call(answer, shape, seed, parameter):
    import torch

    torch.manual_seed(seed)
    t = torch.full(tuple(shape), float("nan"))
    if parameter:
        t = torch.nn.Parameter(t)
    out = answer(t)
    return {"same": out is t, "returned": describe(out) if not isinstance(out, torch.Tensor) else "a tensor",
            "values": t.detach().numpy().copy()}


def _kurtosis(x: np.ndarray) -> float:
    x = x - x.mean()
    return float(np.mean(x**4) / np.mean(x**2) ** 2)


def _init_judge(inputs: dict, got, reference, shape_hints) -> None:
    import torch

    if not isinstance(got, dict) or not _is_array(got.get("values")):
        raise Wrong("the check could not read the tensor back.")
    values = got["values"].astype(np.float64)
    if np.isnan(values).all():
        raise Wrong("the tensor still holds its old values: it was not filled in place.",
                    "Fill the given tensor itself with an in-place op (tensor.uniform_, "
                    "tensor.normal_, tensor.copy_), inside `with torch.no_grad():`.")
    if not np.isfinite(values).all():
        raise Wrong("some entries were not filled (NaN or inf remain).")
    if not got["same"]:
        raise Wrong(f"returned {got['returned']} instead of the tensor it was given.",
                    "Fill the tensor in place and `return tensor`, like torch.nn.init does.")
    shape = inputs["shape"]
    fan_in, fan_out, receptive = _fans(shape)
    with torch.random.fork_rng():                         # the oracle: PyTorch's own init,
        torch.manual_seed(inputs["seed"] + 1)             # 4 draws, to keep its sampling noise small
        ref = np.concatenate([reference(torch.empty(*shape)).double().numpy().ravel() for _ in range(4)])
    std, ref_std = values.std(), ref.std()
    kurt, ref_kurt = _kurtosis(values), _kurtosis(ref)
    ratio = std / ref_std
    if abs(values.mean()) > 0.05 * std:
        raise Wrong(f"the values have mean {values.mean():.3g}, expected about 0.",
                    "The distribution is centred on 0: U(-a, a) or N(0, σ²).")
    if abs(ratio - 1) > 0.03:
        hints = shape_hints(fan_in, fan_out)
        if receptive > 1:
            hints = [(math.sqrt(receptive),
                      f"This {len(shape)}-D weight has a receptive field of {receptive} "
                      f"(the product of tensor.shape[2:]): fan_in = tensor.shape[1] · {receptive} "
                      f"and fan_out = tensor.shape[0] · {receptive}, as in torch.nn.init.")] + hints
        hint = next((text for factor, text in hints if abs(ratio / factor - 1) < 0.03), None)
        raise Wrong(f"std of the values is {std:.4g}, expected {ref_std:.4g} (ratio {ratio:.3f}).", hint)
    uniform = abs(ref_kurt - 1.8) < 0.3
    if abs(kurt - ref_kurt) > 0.3:
        looks = "uniform" if abs(kurt - 1.8) < 0.3 else "normal" if abs(kurt - 3) < 0.3 else "neither uniform nor normal"
        want = "uniform" if uniform else "normal"
        raise Wrong(f"the values look {looks} (kurtosis {kurt:.2f}), expected {want} "
                    f"(kurtosis {ref_kurt:.2f}).",
                    f"Draw from a {want} distribution: "
                    + ("tensor.uniform_(-a, a)." if uniform else "tensor.normal_(0, std)."))
    bound = np.abs(ref).max()
    if uniform and np.abs(values).max() > 1.001 * bound:
        raise Wrong(f"values reach {np.abs(values).max():.4g}, beyond the bound {bound:.4g}.")


def _xavier_hints(fan_in, fan_out):
    return [(1 / math.sqrt(6), "The bound is a = sqrt(6 / (fan_in + fan_out)): the √6 is missing."),
            (1 / math.sqrt(2), "The bound is sqrt(6 / (fan_in + fan_out)), not sqrt(3 / ...): "
                               "a uniform U(-a, a) has variance a²/3."),
            (math.sqrt(3), "A bound a gives std a/√3: use a = sqrt(6 / (fan_in + fan_out)) as the "
                           "bound, not as the std."),
            (math.sqrt((fan_in + fan_out) / fan_in), "Xavier uses fan_in + fan_out, not fan_in alone."),
            (math.sqrt((fan_in + fan_out) / fan_out), "Xavier uses fan_in + fan_out, not fan_out alone.")]


def _he_hints(fan_in, fan_out):
    return [(math.sqrt(fan_in / fan_out), "fan_in and fan_out are swapped: a Linear weight is "
                                          "(fan_out, fan_in), so fan_in = tensor.shape[1] "
                                          "(times the receptive field for a convolution)."),
            (1 / math.sqrt(2), "He's variance is 2 / fan_in (the 2 makes up for ReLU zeroing half "
                               "of its inputs)."),
            (math.sqrt(fan_in / (fan_in + fan_out)), "He uses fan_in alone, not fan_in + fan_out."),
            (math.sqrt(2 / fan_in), "Take the square root: std = sqrt(2 / fan_in), variance 2 / fan_in.")]


# The module is rejected in the source; its initialisers also when called. (Not uniform_ or
# normal_: the static check would then reject the Tensor methods of the same names.)
INIT_FORBIDDEN = ("torch.nn.init", "torch.nn.init.xavier_uniform_", "torch.nn.init.xavier_normal_",
                  "torch.nn.init.kaiming_normal_", "torch.nn.init.kaiming_uniform_",
                  "torch.nn.init.trunc_normal_")

register(Exercise(
    id="6.2", name="xavier_uniform_", make_cases=_init_cases, call=_init_call,
    judge=lambda inputs, got: _init_judge(inputs, got, reference_xavier_uniform_, _xavier_hints),
    hint="a = sqrt(6 / (fan_in + fan_out)) with fan_in = shape[1] · r, fan_out = shape[0] · r, "
         "r = the receptive field, the product of shape[2:] (1 for a 2-D weight); fill with "
         "U(-a, a) in place, under torch.no_grad().",
    summary="mean, std, bound and shape of the distribution of large non-square weights, "
            "incl. convolution weights and nn.Parameters",
    forbidden=INIT_FORBIDDEN))

register(Exercise(
    id="6.3", name="he_normal_", make_cases=_init_cases, call=_init_call,
    judge=lambda inputs, got: _init_judge(inputs, got, reference_he_normal_, _he_hints),
    hint="std = sqrt(2 / fan_in) with fan_in = tensor.shape[1] · r, r = the receptive field, "
         "the product of tensor.shape[2:] (1 for a 2-D weight); fill with N(0, std²) in place.",
    summary="mean, std and shape of the distribution of large non-square weights, "
            "incl. convolution weights and nn.Parameters",
    forbidden=INIT_FORBIDDEN))


# --------------------------------------------------------------------------- 6.4

def reference_cross_entropy(logits, targets):
    import torch.nn.functional as F
    return F.cross_entropy(logits, targets)


def _ce_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, n, c, scale=3.0, dtype="float64"):
        return Case(label, dict(logits=rng.normal(0, scale, size=(n, c)),
                                targets=rng.integers(0, c, size=n), dtype=dtype))
    cases = [case("8 samples, 5 classes", 8, 5),
             case("a batch of 1", 1, 4),
             case("logits of magnitude 1e4", 6, 5, scale=1e4),
             case("100 classes", 16, 100),
             case("float32 logits", 10, 7, dtype="float32")]
    big = rng.normal(0, 1, size=(4, 3))
    big[np.arange(4), [0, 1, 2, 0]] = 1e4            # confidently right and wrong at once
    cases.append(Case("one logit of 1e4 per row", dict(logits=big, targets=np.array([0, 0, 2, 1]),
                                                       dtype="float64")))
    return cases


def _ce_call(answer, logits, targets, dtype):
    import torch

    z = torch.tensor(logits, dtype=getattr(torch, dtype), requires_grad=True)
    loss = answer(z, torch.tensor(targets, dtype=torch.long))
    grad = None
    if isinstance(loss, torch.Tensor) and loss.numel() == 1 and loss.requires_grad:
        loss.backward()
        grad = z.grad
    return {"loss": loss, "grad": grad}


def _ce_judge(inputs: dict, got) -> None:
    import torch
    import torch.nn.functional as F

    z = torch.tensor(inputs["logits"], dtype=torch.float64, requires_grad=True)
    t = torch.tensor(inputs["targets"])
    ref = F.cross_entropy(z, t)                      # the oracle, in float64
    ref.backward()
    ref = ref.detach()
    loss = got.get("loss") if isinstance(got, dict) else None
    if not isinstance(loss, TensorData):
        kind = "a number" if as_float(loss) is not None else describe(loss)
        raise Wrong(f"returned {kind}, expected a scalar torch.Tensor.",
                    "Return the tensor itself (no .item(), no .numpy()), so that .backward() works.")
    value = loss.array
    n = len(inputs["targets"])
    if value.shape != ():
        if value.size == n:
            raise Wrong(f"returned a tensor of shape {value.shape}: one loss per sample.",
                        "Average over the batch: the loss is the mean of -log p_target.")
        raise Wrong(f"returned a tensor of shape {value.shape}, expected a scalar (shape ()).")
    v = float(value)
    if not np.isfinite(v):
        raise Wrong(f"the loss is {v}.",
                    "For large logits exp() overflows and softmax underflows to 0 (log 0 = -inf): "
                    "use log p_y = z_y - logsumexp(z) with logsumexp(z) = m + log Σ exp(z - m), "
                    "m the row maximum.")
    if not loss.requires_grad or got.get("grad") is None:
        raise Wrong("the loss is not connected to the logits: .backward() gives no gradient.",
                    "Compute it with torch operations on the logits tensor (no .item(), .numpy(), "
                    ".detach() or torch.tensor(...) along the way).")
    tol = 1e-9 if inputs["dtype"] == "float64" else 1e-5
    r = ref.item()
    if not np.isclose(v, r, rtol=tol * 10, atol=tol):
        hint = None
        if np.isclose(v, r * n, rtol=1e-4):
            hint = "That is the sum over the batch: take the mean."
        elif np.isclose(v, -r, rtol=1e-4):
            hint = "The sign is flipped: the loss is -log p_target."
        raise Wrong(f"loss is {v:.8g}, expected {r:.8g} (F.cross_entropy).", hint)
    grad = got["grad"]
    g = grad.array if isinstance(grad, TensorData) else grad
    expect_array(np.asarray(g, np.float64), z.grad.numpy(), "the gradient of the loss",
                 rtol=tol * 100, atol=tol * 10)


register(Exercise(
    id="6.4", name="cross_entropy", make_cases=_ce_cases, call=_ce_call, judge=_ce_judge,
    hint="mean over the batch of logsumexp(z_i) - z_i[y_i], with the row maximum subtracted "
         "inside the logsumexp.",
    summary="values and gradients equal F.cross_entropy, incl. logits of 1e4 and a batch of 1",
    forbidden=("torch.nn.functional.cross_entropy", "torch.nn.functional.log_softmax",
               "torch.nn.functional.nll_loss", "torch.nn.CrossEntropyLoss", "torch.nn.NLLLoss",
               "torch.log_softmax")))


# --------------------------------------------------------------------------- 6.5

def _adam_problem(inputs):
    """Float64 tensors of the case's random regression problem and its loss function."""
    import torch

    X, Y = torch.tensor(inputs["X"]), torch.tensor(inputs["Y"])
    params = [torch.tensor(inputs[k], requires_grad=True) for k in ("W1", "b1", "W2", "unused")]

    def loss_fn():
        W1, b1, W2, _ = params                            # `unused` never gets a gradient
        return ((torch.tanh(X @ W1 + b1) @ W2 - Y) ** 2).mean()   # (N, 6) -> (N, 4) -> (N, 3)

    return params, loss_fn


def _adam_groups(params, inputs):
    if inputs["groups"]:
        return [{"params": params[:2], "lr": inputs["group_lr"]},
                {"params": params[2:], "weight_decay": inputs["group_weight_decay"]}]
    return params


def _adam_run(make_optimizer, inputs):
    params, loss_fn = _adam_problem(inputs)
    opt = make_optimizer(_adam_groups(params, inputs), **inputs["kwargs"])
    for _ in range(inputs["steps"]):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
    return opt, [p.detach().numpy().copy() for p in params]


def _adam_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, kwargs, groups=False, steps=100):
        return Case(label, dict(
            X=rng.normal(size=(16, 6)), Y=rng.normal(size=(16, 3)),
            W1=rng.normal(0, 0.5, size=(6, 4)), b1=rng.normal(0, 0.1, size=4),
            W2=rng.normal(0, 0.5, size=(4, 3)), unused=rng.normal(size=2),
            kwargs=kwargs, groups=groups, group_lr=0.003, group_weight_decay=0.05, steps=steps))
    return [case("default arguments", {}),
            case("lr=0.01, betas=(0.8, 0.99)", dict(lr=0.01, betas=(0.8, 0.99))),
            case("weight_decay=0.1", dict(lr=0.01, weight_decay=0.1)),
            case("eps=1e-3", dict(lr=0.02, eps=1e-3)),
            case("two parameter groups with their own lr and weight_decay",
                 dict(lr=0.01, weight_decay=0.01), groups=True)]


def _adam_call(answer, **inputs):
    import torch

    opt, params = _adam_run(answer, inputs)
    counters = set()                 # dtypes of one-element tensors in the state (a step counter?)
    state = getattr(opt, "state", None)
    if isinstance(state, dict):
        for s in state.values():
            if isinstance(s, dict):
                counters.update(str(v.dtype) for v in s.values()
                                if isinstance(v, torch.Tensor) and v.numel() == 1 and v.dtype != torch.float64)
    return {"is_optimizer": isinstance(opt, torch.optim.Optimizer), "params": params,
            "tensor_counters": sorted(counters)}


class _AdamVariant:
    """Adam with switchable mistakes, to recognise them (never shown to learners)."""

    def __init__(self, bias_correction=True, eps_inside=False, decoupled=False):
        self.flags = (bias_correction, eps_inside, decoupled)

    def __call__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        import torch

        bias_correction, eps_inside, decoupled = self.flags

        class Variant(torch.optim.Optimizer):
            def __init__(self):
                super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

            @torch.no_grad()
            def step(self):
                for group in self.param_groups:
                    b1, b2 = group["betas"]
                    for p in group["params"]:
                        if p.grad is None:
                            continue
                        g = p.grad if decoupled else p.grad + group["weight_decay"] * p
                        s = self.state[p]
                        if not s:
                            s["t"], s["m"], s["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                        s["t"] += 1
                        s["m"].mul_(b1).add_((1 - b1) * g)
                        s["v"].mul_(b2).add_((1 - b2) * g * g)
                        m, v = s["m"], s["v"]
                        if bias_correction:
                            m, v = m / (1 - b1 ** s["t"]), v / (1 - b2 ** s["t"])
                        denom = (v + group["eps"]).sqrt() if eps_inside else v.sqrt() + group["eps"]
                        p.sub_(group["lr"] * m / denom)
                        if decoupled:
                            p.sub_(group["lr"] * group["weight_decay"] * p)

        return Variant()


def _adam_judge(inputs: dict, got) -> None:
    import torch

    if not isinstance(got, dict) or not isinstance(got.get("params"), list):
        raise Wrong("the check could not read the parameters back.")
    if not got["is_optimizer"]:
        raise Wrong("Adam(...) is not a torch.optim.Optimizer.",
                    "Subclass it: class Adam(torch.optim.Optimizer), and call "
                    "super().__init__(params, defaults) in __init__.")
    _, ref = _adam_run(torch.optim.Adam, inputs)          # the oracle: PyTorch's Adam
    names = ("W1", "b1", "W2", "a parameter without gradient")
    for name, g, r in zip(names, got["params"], ref):
        if not _is_array(g) or g.shape != r.shape:
            raise Wrong(f"parameter {name} came back as {describe(g)}.")
        if not np.all(np.isfinite(g)):
            raise Wrong(f"parameter {name} contains NaN or inf after {inputs['steps']} steps.")
        err = float(np.max(np.abs(g - r)) / max(np.max(np.abs(r)), 1e-12))
        if err > 1e-6:
            if name.startswith("a parameter"):
                raise Wrong("a parameter whose .grad is None was changed.",
                            "Skip parameters with p.grad is None, as torch.optim does.")
            hint = _adam_mistake(inputs, got["params"])
            if hint is None and err < 1e-3 and got.get("tensor_counters"):
                hint = (f"Your optimiser keeps a {got['tensor_counters'][0]} tensor in its state (a "
                        "step counter?), so β1^t and β2^t are computed in float32, whose rounding "
                        "(up to 2e-5 relative in 1 - β2^t over the first 100 steps) exceeds the 1e-6 "
                        "tolerance. Keep t a Python int, or use t = state['step'].item(), so that β^t "
                        "is a Python float.")
            raise Wrong(f"after {inputs['steps']} steps, {name} differs from torch.optim.Adam "
                        f"(max relative error {err:.2g}).", hint)


def _adam_mistake(inputs, params) -> str | None:
    variants = [(_AdamVariant(bias_correction=False),
                 "No bias correction: divide m by (1 - β1^t) and v by (1 - β2^t), t counting steps from 1."),
                (_AdamVariant(eps_inside=True),
                 "eps goes outside the square root: m̂ / (sqrt(v̂) + eps)."),
                (_AdamVariant(decoupled=True),
                 "Weight decay is applied after the update (that is AdamW). Here, as in "
                 "torch.optim.Adam, add weight_decay · p to the gradient before the moments.")]
    for make, hint in variants:
        _, expected = _adam_run(make, inputs)
        if all(np.allclose(g, e, rtol=1e-6, atol=1e-9) for g, e in zip(params, expected)):
            return hint
    if inputs["groups"]:
        return "Read lr, betas, eps and weight_decay from each group in self.param_groups."
    return None


register(Exercise(
    id="6.5", name="Adam", make_cases=_adam_cases, call=_adam_call, judge=_adam_judge,
    hint="m ← β1·m + (1-β1)·g, v ← β2·v + (1-β2)·g², then p ← p - lr·m̂/(sqrt(v̂) + eps) "
         "with m̂ = m/(1-β1^t), v̂ = v/(1-β2^t), and g = grad + weight_decay·p.",
    summary="100 steps equal torch.optim.Adam to 1e-6, incl. weight decay, eps and param groups",
    forbidden=("torch.optim.Adam", "torch.optim.AdamW", "torch.optim.adam", "torch.optim.adamw",
               "torch.optim._functional")))


# --------------------------------------------------------------------------- 6.6

def reference_kfold_indices(n: int, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train_idx, val_idx) pairs: a seeded permutation of 0..n-1 cut into k near-equal folds."""
    folds = np.array_split(np.random.default_rng(seed).permutation(n), k)
    return [(np.concatenate(folds[:i] + folds[i + 1:]), fold) for i, fold in enumerate(folds)]


def _kfold_cases(rng: np.random.Generator) -> list[Case]:
    seed = int(rng.integers(0, 1000))
    return [Case("n=100, k=5", dict(n=100, k=5, seed=seed)),
            Case("n=23, k=5 (folds of 5 and 4)", dict(n=23, k=5, seed=seed + 1)),
            Case("the default seed", dict(n=50, k=4, seed=None)),
            Case("leave-one-out (n=k=10)", dict(n=10, k=10, seed=seed + 2)),
            Case("n=1001, k=7", dict(n=1001, k=7, seed=seed + 3)),
            Case("k=2", dict(n=31, k=2, seed=seed + 4))]


def _kfold_call(answer, n, k, seed):
    run = (lambda s: answer(n, k)) if seed is None else (lambda s: answer(n, k, seed=s))
    first = seed if seed is not None else 0
    return {"folds": run(first), "again": run(first), "other": answer(n, k, seed=first + 1)}


def _fold_pairs(folds, n, k, what="result"):
    if not isinstance(folds, (list, tuple)):
        raise Wrong(f"{what} is {describe(folds)}, expected a list of k (train_idx, val_idx) pairs.")
    if len(folds) != k:
        raise Wrong(f"{what} has {len(folds)} folds, expected k = {k}.")
    pairs = []
    for i, pair in enumerate(folds):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise Wrong(f"fold {i} is {describe(pair)}, expected a pair (train_idx, val_idx).")
        for name, a in zip(("train_idx", "val_idx"), pair):
            if not _is_array(a) or a.ndim != 1:
                raise Wrong(f"fold {i}: {name} is {describe(a)}, expected a 1-D NumPy array.",
                            "Return NumPy integer arrays, e.g. from np.random.default_rng(seed).permutation(n).")
            if a.dtype.kind not in "iu":
                raise Wrong(f"fold {i}: {name} has dtype {a.dtype}, expected integers.")
        pairs.append((pair[0].astype(np.int64), pair[1].astype(np.int64)))
    return pairs


def _kfold_judge(inputs: dict, got) -> None:
    n, k = inputs["n"], inputs["k"]
    if not isinstance(got, dict):
        raise Wrong("the check could not read the folds back.")
    pairs = _fold_pairs(got["folds"], n, k)
    seen = np.zeros(n, dtype=int)
    for i, (train, val) in enumerate(pairs):
        if val.size and (val.min() < 0 or val.max() >= n or (train.size and (train.min() < 0 or train.max() >= n))):
            raise Wrong(f"fold {i} holds indices outside 0..{n - 1}.")
        if len(np.unique(val)) != len(val):
            raise Wrong(f"fold {i}: val_idx repeats an index.", "Draw without replacement: a permutation.")
        seen[val] += 1
    if (seen > 1).any():
        i = int(np.argmax(seen > 1))
        raise Wrong(f"the validation folds overlap: sample {i} is in {seen[i]} of them.",
                    "Cut one permutation of 0..n-1 into k pieces, so that every sample is in "
                    "exactly one validation fold.")
    if (seen == 0).any():
        missing = np.flatnonzero(seen == 0)
        raise Wrong(f"{len(missing)} sample(s) are never validated, e.g. sample {missing[0]}.",
                    "The folds must cover all n samples; with n % k ≠ 0 some folds get one more "
                    "(np.array_split does this).")
    sizes = [len(v) for _, v in pairs]
    if max(sizes) - min(sizes) > 1:
        raise Wrong(f"validation fold sizes {sizes} differ by more than 1.",
                    "Spread the remainder over the folds (np.array_split), not all into one.")
    for i, (train, val) in enumerate(pairs):
        if np.intersect1d(train, val).size:
            raise Wrong(f"fold {i}: train_idx contains samples of its own validation fold.",
                        "train_idx is every sample not in the fold: the other k-1 folds.")
        if len(np.unique(train)) != len(train) or len(train) + len(val) != n:
            raise Wrong(f"fold {i}: train_idx has {len(train)} indices ({len(np.unique(train))} "
                        f"distinct), expected the {n - len(val)} samples outside the fold.")
    again = _fold_pairs(got["again"], n, k, "a second call with the same seed")
    if any(not np.array_equal(a[1], b[1]) for a, b in zip(pairs, again)):
        raise Wrong("two calls with the same seed gave different folds.",
                    "Draw from np.random.default_rng(seed), not from the global random state.")
    if n >= 20:
        other = _fold_pairs(got["other"], n, k, "a call with another seed")
        if all(np.array_equal(np.sort(a[1]), np.sort(b[1])) for a, b in zip(pairs, other)):
            raise Wrong("a different seed gave the same folds: the samples are not shuffled by the seed.",
                        "Shuffle 0..n-1 with np.random.default_rng(seed).permutation(n) first.")
        contiguous = all(np.array_equal(np.sort(v), np.arange(v.min(), v.max() + 1)) for _, v in pairs)
        if contiguous:
            raise Wrong("each validation fold is a contiguous block of indices: not shuffled.",
                        "Shuffle 0..n-1 with np.random.default_rng(seed).permutation(n) first.")


register(Exercise(
    id="6.6", name="kfold_indices", make_cases=_kfold_cases, call=_kfold_call, judge=_kfold_judge,
    hint="perm = np.random.default_rng(seed).permutation(n); folds = np.array_split(perm, k); "
         "train = the other folds.",
    summary="disjoint covering folds, sizes within 1, shuffled by the seed, incl. leave-one-out"))


# --------------------------------------------------------------------------- 6.7

def reference_cosine_lr(step: int, total_steps: int, base_lr: float, warmup_steps: int) -> float:
    """Linear warm-up 0 -> base_lr over steps [0, warmup_steps], then cosine decay to 0 at total_steps."""
    if step < warmup_steps:
        return base_lr * step / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def _cosine_cases(rng: np.random.Generator) -> list[Case]:
    base = float(10 ** rng.uniform(-4, 0))
    return [Case("total 100, warm-up 10", dict(total_steps=100, base_lr=0.1, warmup_steps=10)),
            Case("no warm-up (warmup_steps=0)", dict(total_steps=50, base_lr=base, warmup_steps=0)),
            Case("warm-up of 1 step", dict(total_steps=20, base_lr=1.0, warmup_steps=1)),
            Case("total 1000, warm-up 100", dict(total_steps=1000, base_lr=base, warmup_steps=100)),
            Case("warm-up almost all of it", dict(total_steps=9, base_lr=0.5, warmup_steps=8))]


def _cosine_call(answer, total_steps, base_lr, warmup_steps):
    return [answer(s, total_steps, base_lr, warmup_steps) for s in range(total_steps + 1)]


def _cosine_judge(inputs: dict, got) -> None:
    T, base, W = inputs["total_steps"], inputs["base_lr"], inputs["warmup_steps"]
    ref = np.array([reference_cosine_lr(s, T, base, W) for s in range(T + 1)])
    values = []
    for s, v in enumerate(got):
        f = as_float(v)
        if f is None:
            raise Wrong(f"at step {s} returned {describe(v)}, expected a float.",
                        "Return a Python float (math.cos works on floats).")
        values.append(f)
    values = np.array(values)
    bad = np.flatnonzero(~np.isclose(values, ref, rtol=1e-9, atol=1e-12 * base))
    if bad.size:
        s = int(bad[0])
        raise Wrong(f"at step {s} of {T} the rate is {values[s]:.6g}, expected {ref[s]:.6g}.",
                    _cosine_mistake(values, T, base, W))


def _cosine_mistake(values, T, base, W) -> str | None:
    steps = np.arange(T + 1)
    with np.errstate(all="ignore"):
        off_by_one = np.where(steps < W, base * (steps + 1) / max(W, 1), np.nan)
        from_zero = base * 0.5 * (1 + np.cos(np.pi * steps / T))
    if W and np.isclose(values[0], base / W):
        return "The warm-up starts from 0: lr = base_lr · step / warmup_steps, so step 0 gives 0."
    if W and np.allclose(values[:W], off_by_one[:W]):
        return "The warm-up starts from 0: lr = base_lr · step / warmup_steps."
    if W and np.allclose(values[W:], from_zero[W:]):
        return ("The cosine starts where the warm-up ends: progress = (step - warmup_steps) / "
                "(total_steps - warmup_steps).")
    if not np.isclose(values[-1], 0, atol=1e-12 * base):
        return "At step total_steps the rate is 0: base_lr · 0.5 · (1 + cos(π · progress)), progress = 1."
    if W and np.isclose(values[0], base):
        return "No warm-up: for step < warmup_steps the rate rises linearly from 0."
    return None


register(Exercise(
    id="6.7", name="cosine_lr", make_cases=_cosine_cases, call=_cosine_call, judge=_cosine_judge,
    hint="step < warmup: base·step/warmup; else base·0.5·(1 + cos(π·(step - warmup)/(total - warmup))).",
    summary="every step of five schedules, incl. no warm-up"))
