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


def test_xavier_correct_passes():
    assert_passes("xavier_uniform_", lambda t: _fill_uniform(t, math.sqrt(6 / sum(t.shape))))


def test_xavier_without_sqrt6():
    assert_fails("xavier_uniform_", lambda t: _fill_uniform(t, math.sqrt(1 / sum(t.shape))), "√6")


def test_xavier_normal_instead_of_uniform():
    assert_fails("xavier_uniform_", lambda t: _fill_normal(t, math.sqrt(2 / sum(t.shape))), "uniform")


def test_xavier_fan_in_only():
    assert_fails("xavier_uniform_", lambda t: _fill_uniform(t, math.sqrt(6 / t.shape[1])),
                 "fan_in + fan_out")


def test_xavier_bound_used_as_std():
    assert_fails("xavier_uniform_", lambda t: _fill_normal(t, math.sqrt(6 / sum(t.shape))), "bound")


def test_xavier_not_in_place():
    assert_fails("xavier_uniform_",
                 lambda t: torch.empty_like(t).uniform_(-1, 1) * math.sqrt(6 / sum(t.shape)), "in place")


def test_xavier_returns_nothing():
    def xavier(t):
        _fill_uniform(t, math.sqrt(6 / sum(t.shape)))
    assert_fails("xavier_uniform_", xavier, "return tensor")


def test_xavier_without_no_grad_fails_on_a_parameter():
    def xavier(t):
        a = math.sqrt(6 / sum(t.shape))
        return t.uniform_(-a, a)
    assert_fails("xavier_uniform_", xavier, "nn.Parameter", "no_grad")


def test_xavier_may_not_call_torch_nn_init():
    assert_fails("xavier_uniform_", lambda t: torch.nn.init.xavier_uniform_(t), "torch.nn.init")

    def sneaky(t):
        f = getattr(getattr(torch.nn, "in" + "it"), "xavier_" + "uniform_")
        return f(t)
    assert_fails("xavier_uniform_", sneaky, "xavier_uniform_")


def test_he_correct_passes():
    assert_passes("he_normal_", lambda t: _fill_normal(t, math.sqrt(2 / t.shape[1])))


def test_he_fans_swapped():
    assert_fails("he_normal_", lambda t: _fill_normal(t, math.sqrt(2 / t.shape[0])), "swapped")


def test_he_uniform_instead_of_normal():
    assert_fails("he_normal_", lambda t: _fill_uniform(t, math.sqrt(6 / t.shape[1])), "normal")


def test_he_missing_factor_2():
    assert_fails("he_normal_", lambda t: _fill_normal(t, math.sqrt(1 / t.shape[1])), "2 / fan_in")


def test_he_variance_used_as_std():
    assert_fails("he_normal_", lambda t: _fill_normal(t, 2 / t.shape[1]), "square root")


def test_he_not_centred():
    def he(t):
        with torch.no_grad():
            t.normal_(0.0, math.sqrt(2 / t.shape[1])).abs_()
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
