"""Chapter 08 checks: the reference passes, the stub is 'not implemented', each known mistake fails."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course.check import result
from course.exercises import compression_transfer as ref
from tests.helpers import assert_fails, assert_passes

# Right answers in other styles than the reference (issue 18): each source defines the name,
# relying only on the imports of the chapter's first code cell.
ALTERNATIVES: dict[str, list[str]] = {
    "magnitude_prune": [
        # a threshold on the k-th smallest |w|, ties broken by position
        '''
def magnitude_prune(w, sparsity):
    flat = np.abs(w).ravel()
    k = int(round(sparsity * flat.size))
    keep = np.ones(flat.size, dtype=bool)
    if k > 0:
        removed = np.argpartition(flat, k - 1)[:k]
        keep[removed] = False
    return keep.reshape(w.shape)
''',
        # plain Python loops over a sorted list of (|w|, index)
        '''
def magnitude_prune(w, sparsity):
    values = [abs(float(v)) for v in w.flatten()]
    order = sorted(range(len(values)), key=lambda i: values[i])
    k = round(sparsity * len(values))
    mask = [True] * len(values)
    for i in order[:k]:
        mask[i] = False
    return np.array(mask, dtype=bool).reshape(w.shape)
''',
        # rank of each entry: keep those whose rank is at least k
        '''
def magnitude_prune(w, sparsity):
    k = round(sparsity * w.size)
    ranks = np.empty(w.size, dtype=np.int64)
    ranks[np.argsort(np.abs(w).reshape(-1), kind="mergesort")] = np.arange(w.size)
    return (ranks >= k).reshape(w.shape)
''',
    ],
    "quantize": [
        # moveaxis to put the channel first, one row per channel
        '''
def quantize(w, bits=8, axis=None):
    qmax = 2 ** (bits - 1) - 1
    if axis is None:
        m = float(np.max(np.abs(w)))
        scale = m / qmax if m > 0 else 1.0
    else:
        ax = axis % w.ndim
        rows = np.moveaxis(np.abs(w), ax, 0).reshape(w.shape[ax], -1)   # (C, rest)
        m = rows.max(axis=1)
        s = np.where(m > 0, m / qmax, 1.0)
        shape = [1] * w.ndim
        shape[ax] = w.shape[ax]
        scale = s.reshape(shape)
    q = np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int8)
    return q, scale
''',
        # a loop over the channels, filling an array
        '''
def _one_scale(a, qmax):
    m = np.abs(a).max()
    return m / qmax if m != 0 else 1.0

def quantize(w, bits=8, axis=None):
    qmax = (1 << (bits - 1)) - 1
    if axis is None:
        scale = float(_one_scale(w, qmax))
    else:
        ax = axis if axis >= 0 else w.ndim + axis
        shape = tuple(n if d == ax else 1 for d, n in enumerate(w.shape))
        scale = np.empty(shape, dtype=np.float64)
        for c in range(w.shape[ax]):
            idx = tuple(c if d == ax else slice(None) for d in range(w.ndim))
            scale[idx] = _one_scale(w[idx], qmax)
    q = np.round(w / scale)
    q = np.minimum(np.maximum(q, -qmax), qmax)
    return q.astype(np.int8), scale
''',
    ],
    "distillation_loss": [
        # F.kl_div with log-probabilities for both sides
        '''
def distillation_loss(student_logits, teacher_logits, targets, T=2.0, alpha=0.5):
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=-1),
                    F.log_softmax(teacher_logits.detach() / T, dim=-1),
                    reduction="batchmean", log_target=True)
    hard = F.cross_entropy(student_logits, targets)
    return alpha * (T * T) * soft + (1 - alpha) * hard
''',
        # by hand with logsumexp, under no_grad for the teacher
        '''
def distillation_loss(student_logits, teacher_logits, targets, T=2.0, alpha=0.5):
    with torch.no_grad():
        zt = teacher_logits / T
        log_pt = zt - torch.logsumexp(zt, dim=1, keepdim=True)
    zs = student_logits / T
    log_ps = zs - torch.logsumexp(zs, dim=1, keepdim=True)
    kl = torch.sum(torch.exp(log_pt) * (log_pt - log_ps)) / student_logits.shape[0]
    log_p = student_logits - torch.logsumexp(student_logits, dim=1, keepdim=True)
    ce = -log_p[torch.arange(len(targets)), targets].mean()
    return alpha * T ** 2 * kl + (1 - alpha) * ce
''',
        # soft cross-entropy minus the teacher's entropy (= KL), as a small class
        '''
class _Soft:
    def __init__(self, T):
        self.T = T

    def log_probs(self, z):
        return torch.log_softmax(z / self.T, dim=1)

def distillation_loss(student_logits, teacher_logits, targets, T=2.0, alpha=0.5):
    soft = _Soft(T)
    p_t = soft.log_probs(teacher_logits).exp().detach()
    cross = -(p_t * soft.log_probs(student_logits)).sum(1)
    entropy = -(p_t * torch.log(p_t.clamp_min(1e-300))).sum(1)
    kl = (cross - entropy).mean()
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(student_logits, targets)
''',
    ],
}


def _from_source(name, source):
    namespace = {"np": np, "torch": torch, "F": F, "nn": torch.nn, "math": math}
    exec(compile(source, f"<alternative {name}>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize("name,index", [(n, i) for n, srcs in ALTERNATIVES.items() for i in range(len(srcs))])
def test_alternatives_pass(name, index):
    assert_passes(name, _from_source(name, ALTERNATIVES[name][index]))


# --------------------------------------------------------------------------- 8.1 magnitude_prune

def _prune_by(key, count, largest=False):
    flat = key.reshape(-1)
    order = np.argsort(-flat if largest else flat, kind="stable")
    mask = np.ones(flat.size, dtype=bool)
    mask[order[:count]] = False
    return mask.reshape(key.shape)


def test_prune_reference_passes():
    assert_passes("magnitude_prune", ref.reference_magnitude_prune)


def test_prune_reference_equals_pytorch():
    rng = np.random.default_rng(0)
    for s in (0.0, 0.1, 0.5, 0.9, 0.99, 1.0):
        w = rng.normal(size=(13, 17))
        assert np.array_equal(ref.reference_magnitude_prune(w, s), ref._prune_oracle(w, s))


def test_prune_keeps_the_smallest():
    assert_fails("magnitude_prune", lambda w, sparsity: _prune_by(np.abs(w), round(sparsity * w.size),
                                                                  largest=True), "largest")


def test_prune_ranks_by_signed_value():
    assert_fails("magnitude_prune", lambda w, sparsity: _prune_by(w, round(sparsity * w.size)),
                 "magnitude |w|")


def test_prune_sparsity_as_fraction_kept():
    assert_fails("magnitude_prune", lambda w, sparsity: _prune_by(np.abs(w), w.size - round(sparsity * w.size)),
                 "fraction removed")


def test_prune_floor_instead_of_round():
    assert_fails("magnitude_prune", lambda w, sparsity: _prune_by(np.abs(w), int(sparsity * w.size)),
                 "off by one", "round")


def test_prune_mask_inverted():
    assert_fails("magnitude_prune", lambda w, sparsity: ~ref.reference_magnitude_prune(w, sparsity),
                 "keep-mask")


def test_prune_changes_w():
    def prune_in_place(w, sparsity):
        mask = ref.reference_magnitude_prune(w, sparsity)
        w[~mask] = 0.0
        return mask
    assert_fails("magnitude_prune", prune_in_place, "in place")


def test_prune_returns_weights_or_floats():
    assert_fails("magnitude_prune", lambda w, sparsity: w * ref.reference_magnitude_prune(w, sparsity),
                 "pruned weights", "mask")
    assert_fails("magnitude_prune",
                 lambda w, sparsity: ref.reference_magnitude_prune(w, sparsity).astype(np.float64), "bool")


def test_prune_threshold_drops_ties():
    # |w| <= threshold removes every tie at the threshold: too many on integer weights
    def prune(w, sparsity):
        k = round(sparsity * w.size)
        if k == 0:
            return np.ones(w.shape, dtype=bool)
        threshold = np.sort(np.abs(w), axis=None)[k - 1]
        return np.abs(w) > threshold
    assert_fails("magnitude_prune", prune, "removes", "expected")


def test_prune_per_row_instead_of_whole_array():
    def prune(w, sparsity):
        rows = w.reshape(w.shape[0], -1)
        k = round(sparsity * rows.shape[1])
        return np.stack([_prune_by(np.abs(r), k) for r in rows]).reshape(w.shape)
    assert_fails("magnitude_prune", prune, "removes")


def test_prune_may_not_use_torch():
    def prune(w, sparsity):
        import torch.nn.utils.prune as tp
        t = torch.tensor(w)
        return tp.L1Unstructured(sparsity).compute_mask(t, torch.ones_like(t)).numpy().astype(bool)
    assert_fails("magnitude_prune", prune, "torch")


# --------------------------------------------------------------------------- 8.2 quantize

def _quantize(w, bits=8, axis=None, qmax=None, per_tensor=False, zero_scale=False, rounding=np.round,
              clip=True, as_float=False, dequantised=False, keep_dims_none=False):
    """The reference with one thing changed."""
    qmax = 2 ** (bits - 1) - 1 if qmax is None else qmax(bits)
    if axis is None or per_tensor:
        peak = np.abs(w).max(keepdims=keep_dims_none)
    else:
        others = tuple(d for d in range(w.ndim) if d != axis % w.ndim)
        peak = np.abs(w).max(axis=others, keepdims=True)
    with np.errstate(all="ignore"):
        scale = peak / qmax if zero_scale else np.where(peak > 0, peak / qmax, 1.0)
        if axis is None and not keep_dims_none:
            scale = float(scale)
        q = rounding(w / scale)
    if clip:
        q = np.clip(q, -qmax, qmax)
    if dequantised:
        return q * scale, scale
    with np.errstate(invalid="ignore"):                     # NaN codes of the zero-scale mistake
        return (q if as_float else q.astype(np.int8)), scale


def test_quantize_reference_passes():
    assert_passes("quantize", ref.reference_quantize)


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_quantize_reference_equals_pytorch_fake_quantize(bits, axis):
    rng = np.random.default_rng(bits)
    w = (rng.normal(size=(6, 5, 3, 3)) * rng.uniform(0.01, 3, size=(6, 1, 1, 1))).astype(np.float32)
    w[2] = 0.0
    q, scale = ref.reference_quantize(w, bits, axis)
    qmax = 2 ** (bits - 1) - 1
    t = torch.from_numpy(w)
    if axis is None:
        fake = torch.fake_quantize_per_tensor_affine(t, float(scale), 0, -qmax, qmax)
    else:
        s = torch.from_numpy(np.asarray(scale, np.float32).reshape(-1))
        fake = torch.fake_quantize_per_channel_affine(t, s, torch.zeros(len(s), dtype=torch.int32),
                                                      axis % w.ndim, -qmax, qmax)
    torch.testing.assert_close(torch.from_numpy((q * scale).astype(np.float32)), fake,
                               rtol=1e-6, atol=1e-6)


def test_quantize_qmax_unsigned_range():
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis, qmax=lambda b: 2**b - 1),
                 "2**(bits-1) - 1")


def test_quantize_qmax_asymmetric():
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis, qmax=lambda b: 2 ** (b - 1)),
                 "one too many", "int8")


def test_quantize_bits_ignored():
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, 8, axis)[0:1] + (_quantize(w, 8, axis)[1],),
                 "depends on `bits`")


def test_quantize_per_tensor_when_axis_given():
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis, per_tensor=True),
                 "single number", "per-tensor")

    def broadcast(w, bits=8, axis=None):               # the per-tensor scale, in the right shape
        q, s = _quantize(w, bits, None)
        if axis is None:
            return q, s
        shape = [1] * w.ndim
        shape[axis] = w.shape[axis]
        return q, np.full(shape, s)
    assert_fails("quantize", broadcast, "one scale for the whole array")


def test_quantize_nan_for_zero_slice():
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis, zero_scale=True),
                 "all-zero slice", "1.0")


@pytest.mark.parametrize("rounding,phrase", [(np.floor, "np.floor"), (np.trunc, "truncation")])
def test_quantize_floor_or_truncation(rounding, phrase):
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis, rounding=rounding), phrase)


def test_quantize_integer_cast_truncates():
    def quantize(w, bits=8, axis=None):
        q, s = _quantize(w, bits, axis)
        return (w / s).astype(np.int8), s
    assert_fails("quantize", quantize, "truncation")


def test_quantize_float_codes():
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis, as_float=True),
                 "int8")
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis, dequantised=True),
                 "dequantised")


def test_quantize_without_clipping_cannot_be_told_apart():
    # With scale = max|w| / qmax, |w / scale| <= qmax already: clipping never changes a code,
    # so leaving it out is not observable through this contract (the chapter says so).
    assert_passes("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis, clip=False))


def test_quantize_scale_axis_reduced_instead_of_kept():
    def quantize(w, bits=8, axis=None):
        if axis is None:
            return _quantize(w, bits, axis)
        qmax = 2 ** (bits - 1) - 1
        peak = np.abs(w).max(axis=axis, keepdims=True)              # over the channel axis: wrong
        scale = np.where(peak > 0, peak / qmax, 1.0)
        return np.clip(np.round(w / scale), -qmax, qmax).astype(np.int8), scale
    assert_fails("quantize", quantize, "other axes")


def test_quantize_scale_without_keepdims():
    def quantize(w, bits=8, axis=None):
        q, s = _quantize(w, bits, axis)
        return q, (np.asarray(s).reshape(-1) if axis is not None else s)
    assert_fails("quantize", quantize, "shape", "keepdims")


def test_quantize_bad_returns():
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis)[0], "pair")
    assert_fails("quantize", lambda w, bits=8, axis=None: _quantize(w, bits, axis, keep_dims_none=True),
                 "one float")


def test_quantize_may_not_use_torch():
    def quantize(w, bits=8, axis=None):
        t = torch.tensor(w)
        qmax = 2 ** (bits - 1) - 1
        scale = float(t.abs().max()) / qmax or 1.0
        return torch.clamp(torch.round(t / scale), -qmax, qmax).to(torch.int8).numpy(), scale
    assert_fails("quantize", quantize, "torch")


# --------------------------------------------------------------------------- 8.3 distillation_loss

def _kd(s, t, y, T=2.0, alpha=0.5, **change):
    return ref._kd_variant(s, t.detach(), y, T, alpha, **change)


def test_kd_reference_passes():
    assert_passes("distillation_loss", ref.reference_distillation_loss)


def test_kd_variant_without_changes_is_the_oracle():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(5, 7, generator=g, dtype=torch.float64)
    y = torch.randint(0, 7, (5,), generator=g)
    torch.testing.assert_close(_kd(s, t, y, 3.0, 0.4), ref._kd_oracle(s, t, y, 3.0, 0.4))
    torch.testing.assert_close(ref.reference_distillation_loss(s, t, y, 3.0, 0.4), ref._kd_oracle(s, t, y, 3.0, 0.4))


@pytest.mark.parametrize("change,phrase", [
    (dict(t_square=False), "T²"),
    (dict(reverse=True), "other way"),
    (dict(temp="teacher"), "student's logits by T"),
    (dict(temp="student"), "teacher's logits by T"),
    (dict(reduction="sum", ce_sum=True), "sum over the batch"),
    (dict(reduction="sum"), "KL term is summed"),
    (dict(reduction="mean"), "batchmean"),
    (dict(swap_alpha=True), "alpha weighs"),
])
def test_kd_mistakes(change, phrase):
    assert_fails("distillation_loss", lambda s, t, y, T=2.0, alpha=0.5: _kd(s, t, y, T, alpha, **change), phrase)


def test_kd_gradient_into_teacher():
    def loss(s, t, y, T=2.0, alpha=0.5):                  # the teacher's logits not detached
        return ref._kd_variant(s, t, y, T, alpha)
    assert_fails("distillation_loss", loss, "teacher", "detach")


def test_kd_naive_softmax_overflows():
    def loss(s, t, y, T=2.0, alpha=0.5):
        p_t = torch.exp(t.detach() / T) / torch.exp(t.detach() / T).sum(1, keepdim=True)
        p_s = torch.exp(s / T) / torch.exp(s / T).sum(1, keepdim=True)
        kl = (p_t * (torch.log(p_t) - torch.log(p_s))).sum(1).mean()
        return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(s, y)
    assert_fails("distillation_loss", loss, "1e4", "log_softmax")


def test_kd_bad_returns():
    assert_fails("distillation_loss", lambda s, t, y, T=2.0, alpha=0.5: _kd(s, t, y, T, alpha).item(),
                 "scalar torch.Tensor")
    assert_fails("distillation_loss",
                 lambda s, t, y, T=2.0, alpha=0.5: torch.tensor(_kd(s, t, y, T, alpha).item()),
                 "not connected")

    def per_sample(s, t, y, T=2.0, alpha=0.5):
        kl = F.kl_div(F.log_softmax(s / T, 1), F.log_softmax(t.detach() / T, 1), reduction="none",
                      log_target=True).sum(1)
        return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(s, y, reduction="none")
    assert_fails("distillation_loss", per_sample, "scalar")


def test_kd_ignores_defaults():
    def loss(s, t, y, T=1.0, alpha=0.5):                  # the wrong default temperature
        return _kd(s, t, y, T, alpha)
    assert_fails("distillation_loss", loss, "default")


@pytest.mark.parametrize("name", ["magnitude_prune", "quantize", "distillation_loss"])
def test_stub_is_not_implemented(name):
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise")
    assert result(name, stub).status == "not_implemented"
