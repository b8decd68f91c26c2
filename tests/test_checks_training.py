"""Chapter 06: each check accepts a correct answer and rejects the listed mistakes with a hint."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course.exercises import training as ref
from tests.helpers import assert_fails, assert_passes


# --------------------------------------------------------------------------- 6.1 standardize

def _std(train, test, stats_from, ddof=0):
    mean, std = stats_from.mean(0), stats_from.std(0, ddof=ddof)
    std = np.where(std == 0, 1.0, std)
    return (train - mean) / std, (test - mean) / std


def test_standardize_reference_passes():
    assert_passes("standardize", ref.reference_standardize)


def test_standardize_with_epsilon_passes():
    def standardize(train, test):
        mean, std = train.mean(0), train.std(0)
        return (train - mean) / np.maximum(std, 1e-12) * (std > 0) + (train - mean) * (std == 0), \
            (test - mean) / np.maximum(std, 1e-12) * (std > 0) + (test - mean) * (std == 0)
    assert_passes("standardize", standardize)


def test_standardize_statistics_from_test():
    assert_fails("standardize", lambda train, test: _std(train, test, test), "train only")


def test_standardize_statistics_from_both():
    assert_fails("standardize", lambda train, test: _std(train, test, np.concatenate([train, test])),
                 "leaks")


def test_standardize_nan_on_constant_feature():
    def standardize(train, test):
        mean, std = train.mean(0), train.std(0)
        with np.errstate(all="ignore"):
            return (train - mean) / std, (test - mean) / std
    assert_fails("standardize", standardize, "NaN", "std 0")


def test_standardize_sample_std():
    assert_fails("standardize", lambda train, test: _std(train, test, train, ddof=1), "ddof=0")


def test_standardize_global_statistics():
    def standardize(train, test):
        return (train - train.mean()) / train.std(), (test - train.mean()) / train.std()
    assert_fails("standardize", standardize, "each feature")


def test_standardize_in_place_and_bad_returns():
    def in_place(train, test):
        mean, std = train.mean(0), train.std(0)
        std = np.where(std == 0, 1.0, std)
        train -= mean
        train /= std
        return train, (test - mean) / std
    assert_fails("standardize", in_place, "in place")
    assert_fails("standardize", lambda train, test: None, "pair")
    assert_fails("standardize", lambda train, test: ref.reference_standardize(train, test)[0], "pair")
    assert_fails("standardize", lambda train, test: [a.tolist() for a in
                                                     ref.reference_standardize(train, test)], "list")
    assert_fails("standardize", lambda train, test: tuple(a.astype(np.float32) for a in
                                                         ref.reference_standardize(train, test)),
                 "float64")


def test_standardize_may_not_use_torch():
    def standardize(train, test):
        import torch
        t = torch.tensor(train)
        mean, std = t.mean(0).numpy(), t.std(0, unbiased=False).numpy()
        std = np.where(std == 0, 1.0, std)
        return (train - mean) / std, (test - mean) / std
    assert_fails("standardize", standardize, "torch")


# --------------------------------------------------------------------------- 6.2, 6.3 init

def _fill_uniform(tensor, a):
    with torch.no_grad():
        tensor.uniform_(-a, a)
    return tensor


def _fill_normal(tensor, std):
    with torch.no_grad():
        tensor.normal_(0.0, std)
    return tensor


def _fans(t):
    """(fan_in, fan_out) as torch.nn.init computes them: shape (out, in, *kernel)."""
    receptive = math.prod(t.shape[2:])
    return t.shape[1] * receptive, t.shape[0] * receptive


def _xavier_a(t):
    return math.sqrt(6 / sum(_fans(t)))


def _he_std(t):
    return math.sqrt(2 / _fans(t)[0])


def test_xavier_correct_passes():
    assert_passes("xavier_uniform_", lambda t: _fill_uniform(t, _xavier_a(t)))


def test_fans_are_those_of_torch_nn_init():
    for shape in [(256, 1024), (128, 32, 3, 3), (48, 16, 5, 5), (96, 32, 7)]:
        t = torch.empty(shape)
        assert _fans(t) == torch.nn.init._calculate_fan_in_and_fan_out(t)
        assert ref._fans(list(shape))[:2] == _fans(t)


def test_xavier_ignores_the_receptive_field():
    assert_fails("xavier_uniform_", lambda t: _fill_uniform(t, math.sqrt(6 / (t.shape[0] + t.shape[1]))),
                 "receptive field")


def test_xavier_two_dimensional_only():
    def xavier(t):
        fan_out, fan_in = t.shape
        return _fill_uniform(t, math.sqrt(6 / (fan_in + fan_out)))
    r = assert_fails("xavier_uniform_", xavier, "Conv2d", "too many values")
    assert "receptive field" in r.hint


def test_xavier_without_sqrt6():
    assert_fails("xavier_uniform_", lambda t: _fill_uniform(t, math.sqrt(1 / sum(_fans(t)))), "√6")


def test_xavier_normal_instead_of_uniform():
    assert_fails("xavier_uniform_", lambda t: _fill_normal(t, math.sqrt(2 / sum(_fans(t)))), "uniform")


def test_xavier_fan_in_only():
    assert_fails("xavier_uniform_", lambda t: _fill_uniform(t, math.sqrt(6 / _fans(t)[0])),
                 "fan_in + fan_out")


def test_xavier_bound_used_as_std():
    assert_fails("xavier_uniform_", lambda t: _fill_normal(t, _xavier_a(t)), "bound")


def test_xavier_not_in_place():
    assert_fails("xavier_uniform_",
                 lambda t: torch.empty_like(t).uniform_(-1, 1) * _xavier_a(t), "in place")


def test_xavier_returns_nothing():
    def xavier(t):
        _fill_uniform(t, _xavier_a(t))
    assert_fails("xavier_uniform_", xavier, "return tensor")


def test_xavier_without_no_grad_fails_on_a_parameter():
    def xavier(t):
        a = _xavier_a(t)
        return t.uniform_(-a, a)
    assert_fails("xavier_uniform_", xavier, "nn.Parameter", "no_grad")


def test_xavier_may_not_call_torch_nn_init():
    assert_fails("xavier_uniform_", lambda t: torch.nn.init.xavier_uniform_(t), "torch.nn.init")

    def sneaky(t):
        f = getattr(getattr(torch.nn, "in" + "it"), "xavier_" + "uniform_")
        return f(t)
    assert_fails("xavier_uniform_", sneaky, "xavier_uniform_")


def test_he_correct_passes():
    assert_passes("he_normal_", lambda t: _fill_normal(t, _he_std(t)))


def test_he_ignores_the_receptive_field():
    assert_fails("he_normal_", lambda t: _fill_normal(t, math.sqrt(2 / t.shape[1])), "receptive field")


def test_he_fans_swapped():
    assert_fails("he_normal_", lambda t: _fill_normal(t, math.sqrt(2 / _fans(t)[1])), "swapped")


def test_he_uniform_instead_of_normal():
    assert_fails("he_normal_", lambda t: _fill_uniform(t, math.sqrt(6 / _fans(t)[0])), "normal")


def test_he_missing_factor_2():
    assert_fails("he_normal_", lambda t: _fill_normal(t, math.sqrt(1 / _fans(t)[0])), "2 / fan_in")


def test_he_variance_used_as_std():
    assert_fails("he_normal_", lambda t: _fill_normal(t, 2 / _fans(t)[0]), "square root")


def test_he_not_centred():
    def he(t):
        with torch.no_grad():
            t.normal_(0.0, _he_std(t)).abs_()
        return t
    assert_fails("he_normal_", he, "centred")


def test_he_may_not_call_kaiming():
    assert_fails("he_normal_", lambda t: torch.nn.init.kaiming_normal_(t), "torch.nn.init")


# --------------------------------------------------------------------------- 6.4 cross_entropy

def _ce(logits, targets):
    m = logits.max(dim=1, keepdim=True).values
    lse = m.squeeze(1) + torch.log(torch.exp(logits - m).sum(dim=1))
    return (lse - logits.gather(1, targets[:, None]).squeeze(1)).mean()


def test_ce_correct_passes():
    assert_passes("cross_entropy", _ce)
    assert_passes("cross_entropy", lambda z, t: (torch.logsumexp(z, 1) - z[torch.arange(len(t)), t]).mean())


def test_ce_not_stable_for_large_logits():
    def naive(logits, targets):
        lse = torch.log(torch.exp(logits).sum(dim=1))
        return (lse - logits[torch.arange(len(targets)), targets]).mean()
    assert_fails("cross_entropy", naive, "1e4", "maximum")


def test_ce_log_of_softmax_underflows():
    def via_softmax(logits, targets):
        p = torch.softmax(logits, dim=1)
        return -torch.log(p[torch.arange(len(targets)), targets]).mean()
    assert_fails("cross_entropy", via_softmax, "logsumexp")


def test_ce_sum_instead_of_mean():
    assert_fails("cross_entropy", lambda z, t: _ce(z, t) * len(t), "sum", "mean")


def test_ce_per_sample():
    def per_sample(logits, targets):
        return torch.logsumexp(logits, 1) - logits[torch.arange(len(targets)), targets]
    assert_fails("cross_entropy", per_sample, "per sample")


def test_ce_item_breaks_autograd():
    assert_fails("cross_entropy", lambda z, t: _ce(z, t).item(), "tensor", ".item()")
    assert_fails("cross_entropy", lambda z, t: torch.tensor(_ce(z, t).item()), "not connected")


def test_ce_forbidden_ops():
    assert_fails("cross_entropy", lambda z, t: F.cross_entropy(z, t), "cross_entropy")
    assert_fails("cross_entropy", lambda z, t: F.nll_loss(F.log_softmax(z, 1), t), "log_softmax")
    assert_fails("cross_entropy", lambda z, t: -z.log_softmax(1)[torch.arange(len(t)), t].mean(),
                 "log_softmax")


# --------------------------------------------------------------------------- 6.5 Adam

def _adam_class(bias_correction=True, eps_inside=False, decoupled=False, skip_none=True,
                use_group_lr=True):
    class Adam(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
            self.lr0 = lr
            super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                b1, b2 = group["betas"]
                lr = group["lr"] if use_group_lr else self.lr0
                for p in group["params"]:
                    if p.grad is None:
                        if skip_none:
                            continue
                        grad = torch.zeros_like(p)
                    else:
                        grad = p.grad
                    g = grad if decoupled else grad + group["weight_decay"] * p
                    s = self.state[p]
                    if not s:
                        s["t"], s["m"], s["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                    s["t"] += 1
                    s["m"] = b1 * s["m"] + (1 - b1) * g
                    s["v"] = b2 * s["v"] + (1 - b2) * g * g
                    m, v = s["m"], s["v"]
                    if bias_correction:
                        m, v = m / (1 - b1 ** s["t"]), v / (1 - b2 ** s["t"])
                    denom = torch.sqrt(v + group["eps"]) if eps_inside else torch.sqrt(v) + group["eps"]
                    p -= lr * m / denom
                    if decoupled:
                        p -= lr * group["weight_decay"] * p
    return Adam


def test_adam_correct_passes():
    assert_passes("Adam", _adam_class())


def _adam_tensor_step(dtype, use_item):
    """Adam keeping its step in a one-element tensor, as torch.optim.Adam does."""
    class Adam(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
            super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                b1, b2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    g = p.grad + group["weight_decay"] * p
                    s = self.state[p]
                    if not s:
                        s["step"] = torch.tensor(0, dtype=dtype)
                        s["exp_avg"], s["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
                    s["step"] += 1
                    t = s["step"].item() if use_item else s["step"]
                    s["exp_avg"].lerp_(g, 1 - b1)
                    s["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1 - b2)
                    m_hat = s["exp_avg"] / (1 - b1**t)
                    v_hat = s["exp_avg_sq"] / (1 - b2**t)
                    p.addcdiv_(m_hat, v_hat.sqrt() + group["eps"], value=-group["lr"])
    return Adam


def test_adam_with_a_tensor_step_passes_when_beta_t_is_a_python_float():
    assert_passes("Adam", _adam_tensor_step(torch.float32, use_item=True))
    assert_passes("Adam", _adam_tensor_step(torch.int64, use_item=True))
    assert_passes("Adam", _adam_tensor_step(torch.float64, use_item=False))


def test_adam_beta_t_in_float32():
    assert_fails("Adam", _adam_tensor_step(torch.float32, use_item=False), "float32", ".item()")
    assert_fails("Adam", _adam_tensor_step(torch.int64, use_item=False), "float32", "Python int")


def test_adam_no_bias_correction():
    assert_fails("Adam", _adam_class(bias_correction=False), "bias correction")


def test_adam_eps_inside_sqrt():
    assert_fails("Adam", _adam_class(eps_inside=True), "outside the square root")


def test_adam_decay_after_update():
    assert_fails("Adam", _adam_class(decoupled=True), "AdamW")


def test_adam_updates_params_without_grad():
    # with a zero gradient instead of skipping, the bias-corrected step is 0/eps = 0, except
    # for weight decay: so check the case where decay is on.
    r = assert_fails("Adam", _adam_class(skip_none=False), "grad is None")
    assert "weight_decay" in r.message or "without gradient" in r.message or "grad is None" in r.hint


def test_adam_ignores_group_settings():
    assert_fails("Adam", _adam_class(use_group_lr=False), "param_groups")


def test_adam_not_an_optimizer():
    class Adam:
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
            self.inner = torch.optim.SGD(params, lr=lr)

        def zero_grad(self):
            self.inner.zero_grad()

        def step(self):
            self.inner.step()
    assert_fails("Adam", Adam, "torch.optim.Optimizer")


def test_adam_may_not_use_torch_adam():
    class Adam(torch.optim.Adam):
        pass
    assert_fails("Adam", Adam, "torch.optim.Adam")

    class Wrapped(torch.optim.Optimizer):
        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
            super().__init__(params, dict(lr=lr))
            self.inner = getattr(torch.optim, "Ad" + "am")(self.param_groups[0]["params"], lr=lr,
                                                          betas=betas, eps=eps, weight_decay=weight_decay)

        def step(self, closure=None):
            self.inner.step()
    assert_fails("Adam", Wrapped, "torch.optim.Adam")


# --------------------------------------------------------------------------- 6.6 kfold_indices

def test_kfold_reference_passes():
    assert_passes("kfold_indices", ref.reference_kfold_indices)


def test_kfold_overlapping_folds():
    def kfold(n, k, seed=0):
        rng = np.random.default_rng(seed)
        out = []
        for _ in range(k):
            val = rng.choice(n, n // k, replace=False)          # drawn independently per fold
            out.append((np.setdiff1d(np.arange(n), val), val))
        return out
    assert_fails("kfold_indices", kfold, "overlap")


def test_kfold_sample_never_validated():
    def kfold(n, k, seed=0):
        perm = np.random.default_rng(seed).permutation(n)
        size = n // k                                            # drops the remainder
        folds = [perm[i * size:(i + 1) * size] for i in range(k)]
        return [(np.setdiff1d(np.arange(n), f), f) for f in folds]
    assert_fails("kfold_indices", kfold, "never validated")


def test_kfold_train_contains_fold():
    def kfold(n, k, seed=0):
        return [(np.arange(n), f) for f in np.array_split(np.random.default_rng(seed).permutation(n), k)]
    assert_fails("kfold_indices", kfold, "train_idx contains")


def test_kfold_remainder_in_last_fold():
    def kfold(n, k, seed=0):
        perm = np.random.default_rng(seed).permutation(n)
        size = n // k
        folds = [perm[i * size:(i + 1) * size] for i in range(k - 1)] + [perm[(k - 1) * size:]]
        return [(np.setdiff1d(np.arange(n), f), f) for f in folds]
    assert_fails("kfold_indices", kfold, "differ by more than 1")


def test_kfold_not_shuffled():
    def kfold(n, k, seed=0):
        folds = np.array_split(np.arange(n), k)
        return [(np.setdiff1d(np.arange(n), f), f) for f in folds]
    assert_fails("kfold_indices", kfold, "shuffle")


def test_kfold_global_random_state():
    def kfold(n, k, seed=0):
        folds = np.array_split(np.random.permutation(n), k)
        return [(np.setdiff1d(np.arange(n), f), f) for f in folds]
    assert_fails("kfold_indices", kfold, "same seed")


def test_kfold_bad_returns():
    assert_fails("kfold_indices", lambda n, k, seed=0: None, "list")
    assert_fails("kfold_indices", lambda n, k, seed=0: [(list(t), list(v)) for t, v in
                                                         ref.reference_kfold_indices(n, k, seed)], "NumPy")
    assert_fails("kfold_indices", lambda n, k, seed=0: ref.reference_kfold_indices(n, k, seed)[:-1], "folds")
    assert_fails("kfold_indices", lambda n, k, seed=0: [(t.astype(float), v) for t, v in
                                                         ref.reference_kfold_indices(n, k, seed)], "integers")


# --------------------------------------------------------------------------- 6.7 cosine_lr

def test_cosine_reference_passes():
    assert_passes("cosine_lr", ref.reference_cosine_lr)


def test_cosine_matches_pytorch_without_warmup():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=40)
    for s in range(41):
        assert math.isclose(opt.param_groups[0]["lr"], ref.reference_cosine_lr(s, 40, 0.3, 0),
                            rel_tol=1e-9, abs_tol=1e-12)
        opt.step()
        sched.step()


def test_cosine_warmup_off_by_one():
    def cosine_lr(step, total_steps, base_lr, warmup_steps):
        if step < warmup_steps:
            return base_lr * (step + 1) / warmup_steps
        return ref.reference_cosine_lr(step, total_steps, base_lr, warmup_steps)
    assert_fails("cosine_lr", cosine_lr, "starts from 0")


def test_cosine_measured_from_step_zero():
    def cosine_lr(step, total_steps, base_lr, warmup_steps):
        if step < warmup_steps:
            return base_lr * step / warmup_steps
        return base_lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))
    assert_fails("cosine_lr", cosine_lr, "where the warm-up ends")


def test_cosine_does_not_reach_zero():
    def cosine_lr(step, total_steps, base_lr, warmup_steps):
        if step < warmup_steps:
            return base_lr * step / warmup_steps
        progress = (step - warmup_steps) / (total_steps - warmup_steps)
        return base_lr * math.cos(math.pi / 2 * progress) * 0.9 + 0.1 * base_lr
    assert_fails("cosine_lr", cosine_lr, "is 0")


def test_cosine_no_warmup():
    def cosine_lr(step, total_steps, base_lr, warmup_steps):
        return ref.reference_cosine_lr(max(step, warmup_steps), total_steps, base_lr, warmup_steps)
    assert_fails("cosine_lr", cosine_lr, "rises linearly")


def test_cosine_returns_tensor():
    assert_fails("cosine_lr", lambda step, total_steps, base_lr, warmup_steps:
                 torch.tensor(ref.reference_cosine_lr(step, total_steps, base_lr, warmup_steps)), "float")


@pytest.mark.parametrize("name", ["standardize", "xavier_uniform_", "he_normal_", "cross_entropy",
                                  "Adam", "kfold_indices", "cosine_lr"])
def test_stub_is_not_implemented(name):
    from course.check import result

    if name == "Adam":
        class Adam(torch.optim.Optimizer):
            def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
                raise NotImplementedError("Exercise 6.5: Adam")
        stub = Adam
    else:
        def stub(*args, **kwargs):
            raise NotImplementedError("Exercise")
    assert result(name, stub).status == "not_implemented"

# --------------------------------------------------------------------------- right answers in other styles
# Run through the notebook's check and through the grader by tests/test_right_answers.py (issue 18).

ALTERNATIVES: dict[str, list[str]] = {
    "standardize": [
        '''from collections import namedtuple

import numpy as np

Standardized = namedtuple("Standardized", "train test")


def standardize(train, test):
    mu = np.mean(train, axis=0, keepdims=True)                  # (1, D)
    sigma = np.std(train, axis=0, keepdims=True)                # (1, D), ddof=0
    sigma[sigma == 0] = 1.0
    return Standardized((train - mu) / sigma, (test - mu) / sigma)
''',
        # one feature at a time
        '''def standardize(train, test):
    train_cols, test_cols = [], []
    for d in range(train.shape[1]):
        column = train[:, d]
        mean, std = column.mean(), column.std()
        std = std if std > 0 else 1.0
        train_cols.append((column - mean) / std)
        test_cols.append((test[:, d] - mean) / std)
    return np.stack(train_cols, axis=1), np.stack(test_cols, axis=1)
''',
    ],
    "xavier_uniform_": [
        '''import math

import torch


def xavier_uniform_(tensor):
    receptive = math.prod(tensor.shape[2:])                     # 1 for a Linear weight
    fan_in, fan_out = tensor.shape[1] * receptive, tensor.shape[0] * receptive
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)
''',
        # fans read off numel(), the draw made with torch.rand and copied in
        '''def xavier_uniform_(tensor):
    fan_in = tensor[0].numel()                                  # size(1) · receptive field
    fan_out = tensor.numel() // tensor.shape[1]                 # size(0) · receptive field
    a = (6 / (fan_in + fan_out)) ** 0.5
    with torch.no_grad():
        tensor.copy_((2 * torch.rand(tensor.shape, dtype=torch.float64) - 1) * a)
    return tensor
''',
    ],
    "he_normal_": [
        '''import math

import torch


def he_normal_(tensor):
    fan_in = tensor.shape[1] * math.prod(tensor.shape[2:])
    with torch.no_grad():
        tensor.normal_(mean=0.0, std=math.sqrt(2.0 / fan_in))
    return tensor
''',
        '''def he_normal_(tensor):
    std = (2 / tensor[0].numel()) ** 0.5
    with torch.no_grad():
        tensor.copy_(torch.randn_like(tensor) * std)
    return tensor
''',
    ],
    "cross_entropy": [
        '''import torch


def cross_entropy(logits, targets):
    rows = torch.arange(len(targets))
    return (torch.logsumexp(logits, dim=1) - logits[rows, targets]).mean()
''',
        # one-hot targets (F.one_hot from the notebook's first cell) against log-probabilities
        '''def cross_entropy(logits, targets):
    shifted = logits - logits.amax(dim=1, keepdim=True).detach()
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    one_hot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    return -(one_hot * log_probs).sum(dim=1).mean()
''',
    ],
    "Adam": [
        # the step counter as a float32 tensor, as torch.optim.Adam keeps it, read with .item()
        '''import torch


class Adam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if group["weight_decay"] == 0 else p.grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"].item()
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1 - beta2 ** t)).add_(group["eps"])
                p.addcdiv_(state["exp_avg"], denom, value=-group["lr"] / (1 - beta1 ** t))
        return loss
''',
        # a helper method for one parameter's update, and a local variable named check
        '''class Adam(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _update(self, p, group):
        beta1, beta2 = group["betas"]
        g = p.grad + group["weight_decay"] * p
        state = self.state[p]
        state.setdefault("t", 0)
        state.setdefault("m", torch.zeros_like(p))
        state.setdefault("v", torch.zeros_like(p))
        state["t"] += 1
        state["m"] = beta1 * state["m"] + (1 - beta1) * g
        state["v"] = beta2 * state["v"] + (1 - beta2) * g * g
        m_hat = state["m"] / (1 - beta1 ** state["t"])
        v_hat = state["v"] / (1 - beta2 ** state["t"])
        p -= group["lr"] * m_hat / (torch.sqrt(v_hat) + group["eps"])

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    check = p.grad is not None
                    if check:
                        self._update(p, group)
        return loss
''',
    ],
    "kfold_indices": [
        '''from collections import namedtuple

import numpy as np

Fold = namedtuple("Fold", "train_idx val_idx")


def kfold_indices(n, k, seed=0):
    perm = np.random.default_rng(seed).permutation(n)
    return [Fold(np.setdiff1d(perm, val), val) for val in np.array_split(perm, k)]
''',
        # fold sizes by hand; a local variable named check; a leftover check line (cause 3)
        '''def kfold_indices(n, k, seed=0):
    order = np.random.default_rng(seed).permutation(n)
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    folds, start = [], 0
    for size in sizes:
        stop = start + size
        folds.append((np.concatenate([order[:start], order[stop:]]), order[start:stop]))
        start = stop
    check = sum(len(v) for _, v in folds)
    assert check == n
    return folds


check.kfold_indices(kfold_indices)
''',
    ],
    "cosine_lr": [
        '''def cosine_lr(step, total_steps, base_lr, warmup_steps):
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step / warmup_steps)
    decay = max(total_steps - warmup_steps, 1)
    t = (step - warmup_steps) / decay
    return 0.5 * base_lr * (1 + math.cos(math.pi * t))     # math from the notebook's first cell
''',
        '''import numpy as np


def cosine_lr(step, total_steps, base_lr, warmup_steps):
    warm = step / warmup_steps if step < warmup_steps else 1.0
    progress = np.clip((step - warmup_steps) / max(1, total_steps - warmup_steps), 0.0, 1.0)
    return float(base_lr * min(warm, 0.5 * (1.0 + np.cos(np.pi * progress))))
''',
    ],
}
