"""Chapter 09: each check accepts right answers and rejects the listed mistakes with a hint."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.exercises import trustworthy_models as ref
from tests.helpers import assert_fails, assert_passes

# --------------------------------------------------------------------------- right answers in other styles
# Each source defines the exercise's name as a learner would in the exercise cell; it may use
# the imports of the chapter's first code cell (np, torch, nn, F, math).

ALTERNATIVES: dict[str, list[str]] = {
    "integrated_gradients": [
        # all interpolation points in one batch
        '''
def integrated_gradients(model, x, target, baseline=None, steps=50):
    if baseline is None:
        baseline = torch.zeros_like(x)
    N = x.shape[0]
    alphas = torch.arange(1, steps + 1, dtype=x.dtype) / steps            # (m,)
    shape = (steps, 1) + (1,) * (x.dim() - 1)
    points = baseline.unsqueeze(0) + alphas.view(shape) * (x - baseline).unsqueeze(0)   # (m, N, ...)
    points = points.reshape(steps * N, *x.shape[1:]).detach().requires_grad_(True)
    t = torch.as_tensor(target).expand(N).repeat(steps)                   # (m·N,)
    out = model(points)
    score = out[torch.arange(steps * N), t].sum()
    g, = torch.autograd.grad(score, points)
    avg = g.reshape(steps, *x.shape).mean(dim=0)                          # (N, ...)
    return (x - baseline) * avg
''',
        # a loop with backward() and a helper, target as a Python list
        '''
def _target_score(model, point, target):
    out = model(point)
    if isinstance(target, int):
        return out[:, target].sum()
    return sum(out[i, int(t)] for i, t in enumerate(target))

def integrated_gradients(model, x, target, baseline=None, steps=50):
    base = torch.zeros_like(x) if baseline is None else baseline.clone()
    acc = torch.zeros_like(x)
    for k in range(steps):
        alpha = (k + 1) / steps
        p = (base + alpha * (x - base)).detach()
        p.requires_grad = True
        _target_score(model, p, target).backward()
        acc = acc + p.grad
    model.zero_grad()
    return (x - base) * (acc / steps)
''',
    ],
    "fgsm": [
        # backward() on a copy, then the parameters' gradients cleared
        '''
def fgsm(model, x, y, eps):
    x_adv = x.clone().detach()
    x_adv.requires_grad_()
    loss = F.cross_entropy(model(x_adv), y, reduction="sum")
    loss.backward()
    step = eps * x_adv.grad.sign()
    model.zero_grad(set_to_none=True)
    return torch.clamp(x_adv.detach() + step, min=0.0, max=1.0)
''',
        # torch.func.grad of a closure; eval mode switched on and the original mode restored
        '''
def fgsm(model, x, y, eps):
    was_training = model.training
    model.eval()
    def loss_of(inp):
        logp = torch.log_softmax(model(inp), dim=1)
        return -logp.gather(1, y.view(-1, 1)).mean()
    g = torch.func.grad(loss_of)(x)
    model.train(was_training)
    return torch.where(g > 0, x + eps, torch.where(g < 0, x - eps, x)).clamp(0, 1)
''',
    ],
    "pgd": [
        # clamp with tensor bounds
        '''
def pgd(model, x, y, eps, step_size, steps):
    lo, hi = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    x_adv = x.detach().clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        g, = torch.autograd.grad(loss, [x_adv])
        x_adv = torch.clamp(x_adv.detach() + step_size * torch.sign(g), lo, hi)
    return x_adv
''',
        # the perturbation delta as the variable, projected by clamping delta
        '''
def pgd(model, x, y, eps, step_size, steps):
    delta = torch.zeros_like(x)
    for step in range(steps):
        delta.requires_grad_(True)
        loss = F.nll_loss(F.log_softmax(model(x + delta), dim=-1), y)
        grad = torch.autograd.grad(loss, delta)[0]
        delta = (delta.detach() + step_size * grad.sign()).clamp(-eps, eps)
        delta = (x + delta).clamp(0, 1) - x
    return (x + delta).detach()
''',
    ],
    "clip_per_sample": [
        # a loop over rows
        '''
def clip_per_sample(grads, max_norm):
    rows = []
    for g in grads:
        norm = torch.sqrt((g ** 2).sum())
        rows.append(g * min(1.0, max_norm / norm.item()) if norm > 0 else g.clone())
    return torch.stack(rows)
''',
        # einsum and torch.where
        '''
def clip_per_sample(grads, max_norm):
    norms = torch.einsum("bp,bp->b", grads, grads).sqrt()          # (B,)
    factor = torch.where(norms > max_norm, max_norm / norms, torch.ones_like(norms))
    return grads * factor[:, None]
''',
        # norm with a small epsilon, as PyTorch's clip_grad_norm_ does
        '''
def clip_per_sample(grads, max_norm):
    norm = grads.norm(p=2, dim=1, keepdim=True)
    return grads * (max_norm / (norm + 1e-6)).clamp(max=1.0)
''',
    ],
    "roc_auc": [
        # ranks (Mann–Whitney U) with average ranks for ties
        '''
def roc_auc(member_scores, nonmember_scores):
    m = np.asarray(member_scores, dtype=float)
    n = np.asarray(nonmember_scores, dtype=float)
    allv = np.concatenate([m, n])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[:len(m)].sum() - len(m) * (len(m) + 1) / 2
    return float(u / (len(m) * len(n)))
''',
        # plain loops over pairs
        '''
def roc_auc(member_scores, nonmember_scores):
    wins = 0.0
    for a in member_scores:
        for b in nonmember_scores:
            wins += 1.0 if a > b else 0.5 if a == b else 0.0
    return wins / (len(member_scores) * len(nonmember_scores))
''',
        # sorted non-members and searchsorted
        '''
def roc_auc(member_scores, nonmember_scores):
    n = np.sort(np.asarray(nonmember_scores))
    below = np.searchsorted(n, member_scores, side="left")
    not_above = np.searchsorted(n, member_scores, side="right")
    return float(np.mean((below + not_above) / 2) / len(n))
''',
    ],
}


def _define(source: str, name: str):
    namespace = {"np": np, "torch": torch, "nn": nn, "F": F, "math": math}
    exec(compile(source, f"<alternative {name}>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize("name, index", [(n, i) for n, sources in ALTERNATIVES.items()
                                         for i in range(len(sources))])
def test_alternative_passes(name, index):
    assert_passes(name, _define(ALTERNATIVES[name][index], name), seeds=(0, 1))


def test_every_exercise_has_two_alternatives():
    assert set(ALTERNATIVES) == {"integrated_gradients", "fgsm", "pgd", "clip_per_sample", "roc_auc"}
    assert all(len(v) >= 2 for v in ALTERNATIVES.values())


def test_stubs_are_not_implemented():
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 9.x")
    for name in ALTERNATIVES:
        from tests.helpers import verdict
        assert verdict(name, stub).status == "not_implemented"


# --------------------------------------------------------------------------- 9.1 integrated_gradients

def _ig(alphas=None, times="difference", score="target"):
    def integrated_gradients(model, x, target, baseline=None, steps=50):
        base = torch.zeros_like(x) if baseline is None else baseline
        return ref._ig_variant(model, x, target, base, steps, alphas=alphas(steps) if alphas else None,
                               times=times, score=score)
    return integrated_gradients


def test_ig_reference_passes():
    assert_passes("integrated_gradients", ref.reference_integrated_gradients)


def test_ig_without_difference_factor():
    assert_fails("integrated_gradients", _ig(times="none"), "(x − baseline) factor")


def test_ig_left_riemann_sum():
    assert_fails("integrated_gradients", _ig(alphas=lambda m: [k / m for k in range(m)]), "left Riemann")


def test_ig_sum_over_classes():
    assert_fails("integrated_gradients", _ig(score="all"), "sum over all classes")


def test_ig_gradient_times_input():
    assert_fails("integrated_gradients", _ig(alphas=lambda m: [1.0], times="x"), "gradient × input")


def test_ig_times_x_and_no_average():
    assert_fails("integrated_gradients", _ig(times="x"), "not by x")
    assert_fails("integrated_gradients", _ig(times="sum"), "divide their sum by m")


def test_ig_ignores_steps_or_baseline():
    def fixed_steps(model, x, target, baseline=None, steps=50):
        return ref.reference_integrated_gradients(model, x, target, baseline, 50)
    assert_fails("integrated_gradients", fixed_steps, "steps")

    def ignores_baseline(model, x, target, baseline=None, steps=50):
        return ref.reference_integrated_gradients(model, x, target, None, steps)
    assert_fails("integrated_gradients", ignores_baseline, "baseline")


def test_ig_bad_returns():
    assert_fails("integrated_gradients",
                 lambda model, x, target, baseline=None, steps=50:
                 ref.reference_integrated_gradients(model, x, target, baseline, steps).numpy(), "NumPy")
    assert_fails("integrated_gradients",
                 lambda model, x, target, baseline=None, steps=50:
                 ref.reference_integrated_gradients(model, x, target, baseline, steps).float(), "float64")
    assert_fails("integrated_gradients",
                 lambda model, x, target, baseline=None, steps=50:
                 ref.reference_integrated_gradients(model, x, target, baseline, steps).sum(1), "shape")

    def in_place(model, x, target, baseline=None, steps=50):
        out = ref.reference_integrated_gradients(model, x, target, baseline, steps)
        x.mul_(0)
        return out
    assert_fails("integrated_gradients", in_place, "in place")

    def trains(model, x, target, baseline=None, steps=50):
        out = ref.reference_integrated_gradients(model, x, target, baseline, steps)
        model.train()
        return out
    assert_fails("integrated_gradients", trains, "training mode")


# --------------------------------------------------------------------------- 9.2 fgsm

def _fgsm(**change):
    def fgsm(model, x, y, eps):
        return torch.tensor(ref._attack_variant(model, x, y, eps, eps, 1, **change))
    return fgsm


def test_fgsm_reference_passes():
    assert_passes("fgsm", ref.reference_fgsm)


def test_fgsm_raw_gradient():
    assert_fails("fgsm", _fgsm(use_sign=False), "sign of the gradient")


def test_fgsm_step_down():
    assert_fails("fgsm", _fgsm(direction=-1.0), "steps down the gradient")


def test_fgsm_no_clamp():
    assert_fails("fgsm", _fgsm(clamp=False), "clamp", "[0, 1]")


def test_fgsm_gradients_left_in_parameters():
    def fgsm(model, x, y, eps):
        x = x.clone().requires_grad_(True)
        F.cross_entropy(model(x), y).backward()
        return (x + eps * x.grad.sign()).clamp(0, 1).detach()
    assert_fails("fgsm", fgsm, "gradients were left in the model's parameters")


def test_fgsm_model_left_in_training_mode():
    def fgsm(model, x, y, eps):
        model.train()
        return ref.reference_fgsm(model, x, y, eps)
    assert_fails("fgsm", fgsm, "training mode")

    def eval_then_train(model, x, y, eps):          # runs in eval mode, then leaves train mode on
        model.eval()
        out = ref.reference_fgsm(model, x, y, eps)
        model.train()
        return out
    assert_fails("fgsm", eval_then_train, "training mode")

    def trains_then_restores(model, x, y, eps):     # BatchNorm statistics updated on the way
        model.train()
        out = ref.reference_fgsm(model, x, y, eps)
        model.eval()
        return out
    assert_fails("fgsm", trains_then_restores, "buffers changed")


def test_fgsm_steps_the_optimizer_or_freezes_parameters():
    def steps_params(model, x, y, eps):
        out = ref.reference_fgsm(model, x, y, eps)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)
        return out
    assert_fails("fgsm", steps_params, "parameters or buffers changed")

    def freezes(model, x, y, eps):
        for p in model.parameters():
            p.requires_grad_(False)
        return ref.reference_fgsm(model, x, y, eps)
    assert_fails("fgsm", freezes, "no longer require gradients")


def test_fgsm_bad_returns():
    def attached(model, x, y, eps):
        x = x.clone().requires_grad_(True)
        g, = torch.autograd.grad(F.cross_entropy(model(x), y), x, create_graph=True)
        return (x + eps * g.sign()).clamp(0, 1)
    assert_fails("fgsm", attached, "detach")

    def in_place(model, x, y, eps):
        out = ref.reference_fgsm(model, x, y, eps)
        x.copy_(out)
        return out
    assert_fails("fgsm", in_place, "in place")
    assert_fails("fgsm", lambda model, x, y, eps: ref.reference_fgsm(model, x, y, eps).numpy(), "NumPy")
    assert_fails("fgsm", lambda model, x, y, eps: None, "expected a torch.Tensor")

    def wrong_labels(model, x, y, eps):              # attacks the predicted class's neighbour
        return ref.reference_fgsm(model, x, (y + 1) % 5, eps)
    assert_fails("fgsm", wrong_labels, "true labels")


# --------------------------------------------------------------------------- 9.3 pgd

def _pgd(**change):
    def pgd(model, x, y, eps, step_size, steps):
        return torch.tensor(ref._attack_variant(model, x, y, eps, step_size, steps, **change))
    return pgd


def test_pgd_reference_passes():
    assert_passes("pgd", ref.reference_pgd)


def test_pgd_no_projection():
    assert_fails("pgd", _pgd(project=None), "No projection")


def test_pgd_projects_around_previous_iterate():
    assert_fails("pgd", _pgd(project="previous"), "previous iterate")


def test_pgd_no_clamp():
    assert_fails("pgd", _pgd(clamp=False), "clamp", "[0, 1]")


def test_pgd_random_start():
    def pgd(model, x, y, eps, step_size, steps):
        start = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        x_adv = start
        for _ in range(steps):
            x_adv = x_adv.detach().requires_grad_(True)
            g, = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
            x_adv = torch.min(torch.max(x_adv + step_size * g.sign(), x - eps), x + eps).clamp(0, 1)
        return x_adv.detach()
    assert_fails("pgd", pgd, "random start")

    def seeded(model, x, y, eps, step_size, steps):        # deterministic, still not from x
        gen = torch.Generator().manual_seed(0)
        start = (x + (2 * torch.rand(x.shape, generator=gen, dtype=x.dtype) - 1) * eps).clamp(0, 1)
        x_adv = start
        for _ in range(steps):
            x_adv = x_adv.detach().requires_grad_(True)
            g, = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
            x_adv = torch.min(torch.max(x_adv + step_size * g.sign(), x - eps), x + eps).clamp(0, 1)
        return x_adv.detach()
    assert_fails("pgd", seeded, "no random start")


def test_pgd_step_down_raw_gradient_and_model_hygiene():
    assert_fails("pgd", _pgd(direction=-1.0), "steps down")
    assert_fails("pgd", _pgd(use_sign=False), "sign of the gradient")

    def leaves_grads(model, x, y, eps, step_size, steps):
        x_adv = x.clone()
        for _ in range(steps):
            x_adv = x_adv.detach().requires_grad_(True)
            F.cross_entropy(model(x_adv), y).backward()
            x_adv = torch.min(torch.max(x_adv + step_size * x_adv.grad.sign(), x - eps), x + eps).clamp(0, 1)
        return x_adv.detach()
    assert_fails("pgd", leaves_grads, "gradients were left")

    def trains(model, x, y, eps, step_size, steps):
        model.train()
        return ref.reference_pgd(model, x, y, eps, step_size, steps)
    assert_fails("pgd", trains, "training mode")

    def one_step_too_few(model, x, y, eps, step_size, steps):
        return ref.reference_pgd(model, x, y, eps, step_size, max(steps - 1, 0))
    assert_fails("pgd", one_step_too_few, "steps")


# --------------------------------------------------------------------------- 9.4 clip_per_sample

def test_clip_reference_passes():
    assert_passes("clip_per_sample", ref.reference_clip_per_sample)


def test_clip_batch_total_norm():
    def clip(grads, max_norm):
        return grads * min(1.0, max_norm / grads.norm().item())
    assert_fails("clip_per_sample", clip, "total norm")


def test_clip_scales_small_rows_up():
    def clip(grads, max_norm):
        norms = grads.norm(dim=1, keepdim=True)
        return grads * torch.where(norms > 0, max_norm / norms, torch.ones_like(norms))
    assert_fails("clip_per_sample", clip, "never above 1")


def test_clip_squared_norm():
    def clip(grads, max_norm):
        sq = (grads ** 2).sum(dim=1, keepdim=True)
        return grads * torch.clamp(max_norm / sq, max=1.0)
    assert_fails("clip_per_sample", clip, "squared norm")


def test_clip_l1_norm_nan_and_bad_returns():
    def l1(grads, max_norm):
        return grads * torch.clamp(max_norm / grads.abs().sum(dim=1, keepdim=True), max=1.0)
    assert_fails("clip_per_sample", l1, "L1")

    def divides(grads, max_norm):                       # a zero row gives 0/0
        norms = grads.norm(dim=1, keepdim=True)
        return grads / norms * torch.clamp(norms, max=max_norm)
    assert_fails("clip_per_sample", divides, "zero row")

    def in_place(grads, max_norm):
        grads.mul_(torch.clamp(max_norm / grads.norm(dim=1, keepdim=True), max=1.0))
        return grads
    assert_fails("clip_per_sample", in_place, "in place")
    assert_fails("clip_per_sample", lambda g, c: ref.reference_clip_per_sample(g, c).numpy(), "NumPy")
    assert_fails("clip_per_sample", lambda g, c: ref.reference_clip_per_sample(g, c).double(), "dtype")


def test_clip_may_not_call_clip_grad_norm():
    def clip(grads, max_norm):
        rows = []
        for row in grads:
            param = torch.zeros_like(row, requires_grad=True)
            param.grad = row.clone()
            torch.nn.utils.clip_grad_norm_([param], max_norm)
            rows.append(param.grad)
        return torch.stack(rows)
    assert_fails("clip_per_sample", clip, "clip_grad_norm_")


# --------------------------------------------------------------------------- 9.5 roc_auc

def test_auc_reference_passes():
    assert_passes("roc_auc", ref.reference_roc_auc)


def test_auc_ties_count_zero_or_one():
    def strict(m, n):
        return float(np.mean(m[:, None] > n[None, :]))
    assert_fails("roc_auc", strict, "not 0")

    def weak(m, n):
        return float(np.mean(m[:, None] >= n[None, :]))
    assert_fails("roc_auc", weak, "not 1")


def test_auc_swapped_arguments():
    assert_fails("roc_auc", lambda m, n: ref.reference_roc_auc(n, m), "swapped")


def test_auc_bad_returns_and_in_place_sort():
    assert_fails("roc_auc", lambda m, n: None, "expected a float")
    assert_fails("roc_auc", lambda m, n: torch.tensor(ref.reference_roc_auc(m, n)), "torch.Tensor")

    def sorts(m, n):
        m.sort()
        return ref.reference_roc_auc(m, n)
    assert_fails("roc_auc", sorts, "in place")


def test_auc_may_not_call_sklearn():
    def auc(member_scores, nonmember_scores):
        from sklearn.metrics import roc_auc_score
        labels = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
        return roc_auc_score(labels, np.r_[member_scores, nonmember_scores])
    assert_fails("roc_auc", auc, "roc_auc_score")


# --------------------------------------------------------------------------- the models of the cases

def test_case_models_rebuild_exactly():
    rng = np.random.default_rng(0)
    for kind in ref.KINDS:
        spec = ref.random_model(rng, kind)
        a, b = ref.build_model(spec), ref.build_model(spec)
        x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
        torch.testing.assert_close(a(x), b(x))
        assert not a.training and all(p.grad is None for p in a.parameters())
