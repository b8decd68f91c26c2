"""Chapter 08 — compression and transfer: magnitude pruning, quantisation, distillation.

Oracles: PyTorch's own magnitude pruning ``torch.nn.utils.prune.L1Unstructured`` (8.1), the
closed form of symmetric quantisation evaluated with torch ops in float64 (8.2; the tests
show it equals ``torch.fake_quantize_per_channel_affine``), and ``F.kl_div`` +
``F.cross_entropy`` with autograd for the loss and its gradient (8.3). The ``reference_*``
functions are what the notebook falls back on (``yours_or``) until the learner's own exist.
"""
from __future__ import annotations

import math

import numpy as np

from course.exercise import (Case, Exercise, TensorData, Wrong, as_float, describe,
                             expect_array, register)


# --------------------------------------------------------------------------- 8.1

def reference_magnitude_prune(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep-mask of ``w``'s shape: False for the round(sparsity · w.size) entries of smallest |w|."""
    k = round(sparsity * w.size)                          # how many to remove
    order = np.argsort(np.abs(w), axis=None, kind="stable")  # flat indices, smallest |w| first
    mask = np.ones(w.size, dtype=bool)
    mask[order[:k]] = False
    return mask.reshape(w.shape)


def _prune_oracle(w: np.ndarray, sparsity: float) -> np.ndarray:
    """PyTorch's magnitude pruning: the keep-mask of torch.nn.utils.prune.L1Unstructured."""
    import torch
    from torch.nn.utils import prune

    t = torch.from_numpy(np.array(w, dtype=np.float64))
    mask = prune.L1Unstructured(amount=float(sparsity)).compute_mask(t, torch.ones_like(t))
    return mask.numpy().astype(bool)


def _prune_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, w, s):
        return Case(label, dict(w=w, sparsity=float(s)))

    ties = rng.integers(-3, 4, size=(6, 7)).astype(np.float64)   # many equal |w|, both signs
    zero = np.zeros((4, 5))
    return [
        case("Linear weight (32, 16), sparsity 0.6", rng.normal(size=(32, 16)), 0.6),
        case("(6, 7) at sparsity 0.9: 37.8 entries, rounds to 38", rng.normal(size=(6, 7)), 0.9),
        case("(9, 11) at sparsity 0.33: 32.67 entries, rounds to 33", rng.normal(size=(9, 11)), 0.33),
        case("weights with a negative mean, sparsity 0.3", rng.normal(-1.0, 1.0, size=(10, 12)), 0.3),
        case("conv weight (8, 3, 3, 3), sparsity 0.75", rng.normal(size=(8, 3, 3, 3)), 0.75),
        case("integer-valued weights: ties in |w|", ties, 0.6),
        case("sparsity 0: nothing removed", rng.normal(size=(5, 4)), 0.0),
        case("sparsity 1: everything removed", rng.normal(size=(5, 4)), 1.0),
        case("an all-zero weight", zero, 0.5),
        case("float32 weight (64, 10), sparsity 0.97",
             rng.normal(size=(64, 10)).astype(np.float32), 0.97),
    ]


def _pruned_by(order_key: np.ndarray, count: int, largest: bool = False) -> np.ndarray:
    """Keep-mask removing ``count`` entries by ``order_key`` (smallest first unless largest)."""
    flat = order_key.reshape(-1)
    order = np.argsort(-flat if largest else flat, kind="stable")
    mask = np.ones(flat.size, dtype=bool)
    mask[order[:count]] = False
    return mask.reshape(order_key.shape)


def _same_removed(got: np.ndarray, ref: np.ndarray, key: np.ndarray) -> bool:
    """Both masks remove the same multiset of ``key`` values (so any choice among ties is fine)."""
    return (got.shape == ref.shape and int((~got).sum()) == int((~ref).sum())
            and np.array_equal(np.sort(key[~got]), np.sort(key[~ref])))


def _prune_judge(inputs: dict, got) -> None:
    w, s = inputs["w"], inputs["sparsity"]
    ref = _prune_oracle(w, s)
    n, k = w.size, int((~ref).sum())
    a = np.abs(w)
    if isinstance(got, np.ndarray) and got.shape == w.shape and got.dtype != np.bool_:
        if got.dtype.kind == "f" and np.array_equal(got, np.where(ref, w, 0)):
            raise Wrong("returned the pruned weights, expected the boolean keep-mask.",
                        "Return the mask (True = keep); the caller multiplies w * mask.")
        raise Wrong(f"mask has dtype {got.dtype}, expected bool.",
                    "Return a boolean array: True for the weights kept, False for those removed.")
    if not isinstance(got, np.ndarray) or got.shape != w.shape:
        expect_array(got, ref, "mask", dtype_kind="b")          # says what is wrong with it
    if _same_removed(got, ref, a):
        return
    removed = int((~got).sum())
    mistakes = [
        (_pruned_by(a, k, largest=True), "That removes the LARGEST weights: magnitude pruning "
         "removes the smallest |w| and keeps the large ones (mask False for the smallest)."),
        (_pruned_by(w, k), "Rank the weights by magnitude |w|, not by their signed value: a "
         "large negative weight matters as much as a large positive one."),
        (_pruned_by(a, n - k), "`sparsity` is the fraction REMOVED: remove round(sparsity · w.size) "
         "entries, keep the rest."),
        (~_pruned_by(a, k), "The mask is a keep-mask: True for the weights kept, False for the "
         "removed ones (you returned it the other way round)."),
        (_pruned_by(a, n - k, largest=True), "Remove the smallest |w|, and `sparsity` is the "
         "fraction removed, not kept."),
        (_pruned_by(a, int(math.floor(s * n))), "Off by one: the number removed is "
         "round(sparsity · w.size); int() and floor truncate (here "
         f"{s} · {n} = {s * n:.4g} -> {k})."),
        (_pruned_by(a, int(math.ceil(s * n))), "Off by one: the number removed is "
         f"round(sparsity · w.size) (here {s} · {n} = {s * n:.4g} -> {k}), not the ceiling."),
    ]
    for candidate, hint in mistakes:
        if _same_removed(got, candidate, a) or (candidate.shape == got.shape and np.array_equal(got, candidate)):
            raise Wrong(f"removes {removed} of {n} entries, expected the {k} of smallest |w|.", hint)
    if removed != k:
        raise Wrong(f"removes {removed} of {n} entries (mask False), expected round({s} · {n}) = {k}.",
                    "Count: k = round(sparsity * w.size) entries become False.")
    raise Wrong(f"removes {k} entries, but not those of smallest |w| (largest removed "
                f"|w| = {a[~got].max():.4g}, smallest kept |w| = {a[got].min():.4g}).",
                "Sort np.abs(w) over the whole array (np.argsort(np.abs(w), axis=None)) and "
                "remove the first k.")


register(Exercise(
    id="8.1", name="magnitude_prune", make_cases=_prune_cases, judge=_prune_judge,
    hint="k = round(sparsity * w.size); the mask is False for the k entries of smallest |w| "
         "(np.argsort(np.abs(w), axis=None)[:k]), True elsewhere.",
    summary="equal to torch.nn.utils.prune's L1Unstructured, incl. ties, sparsity 0 and 1, "
            "conv weights and an all-zero weight",
    forbidden=("torch",)))


# --------------------------------------------------------------------------- 8.2

def reference_quantize(w: np.ndarray, bits: int = 8, axis: int | None = None):
    """Symmetric quantisation: (q int8 like w, scale) with q = clip(round(w / scale), ±qmax).

    ``scale = max|w| / qmax``, ``qmax = 2**(bits-1) - 1``, over the whole array (a float) or
    per index along ``axis`` (an array of w.ndim dims, size 1 except along ``axis``);
    ``scale = 1`` where ``max|w| = 0``. Dequantise with ``q * scale``.
    """
    qmax = 2 ** (bits - 1) - 1
    if axis is None:
        peak = np.abs(w).max()                                  # ()
        scale = float(peak / qmax) if peak > 0 else 1.0
    else:
        others = tuple(d for d in range(w.ndim) if d != axis % w.ndim)
        peak = np.abs(w).max(axis=others, keepdims=True)        # size 1 except along axis
        scale = np.where(peak > 0, peak / qmax, 1.0).astype(w.dtype)
    q = np.clip(np.round(w / scale), -qmax, qmax).astype(np.int8)
    return q, scale


def _quantize_oracle(w: np.ndarray, bits: int, axis):
    """The closed form with torch ops in float64: q (as float64), scale, w / scale, max|w| == 0."""
    import torch

    t = torch.from_numpy(np.array(w, dtype=np.float64))
    qmax = 2 ** (bits - 1) - 1
    if axis is None:
        peak = t.abs().max()
    else:
        dims = [d for d in range(t.dim()) if d != axis % t.dim()]
        peak = t.abs().amax(dim=dims, keepdim=True)
    scale = torch.where(peak > 0, peak / qmax, torch.ones_like(peak))
    ratio = t / scale                                          # before rounding
    q = torch.clamp(torch.round(ratio), -qmax, qmax)
    return q.numpy(), scale.numpy(), ratio.numpy(), (peak == 0).numpy()


def _quantize_cases(rng: np.random.Generator) -> list[Case]:
    def rows(shape, axis):
        """Normal weights whose slices along ``axis`` have very different ranges."""
        w = rng.normal(size=shape)
        spread = 10.0 ** rng.uniform(-2, 1, size=shape[axis])
        view = [1] * len(shape)
        view[axis] = shape[axis]
        return w * spread.reshape(view)

    def case(label, w, **kw):
        return Case(label, dict(w=w, **kw))

    zero_row = rows((6, 9), 0)
    zero_row[2] = 0.0
    conv = rows((8, 4, 3, 3), 0)
    conv[5] = 0.0
    return [
        case("(16, 24) per tensor, default 8 bits", rng.normal(size=(16, 24))),
        case("(16, 24) per tensor, 4 bits", rng.normal(size=(16, 24)), bits=4, axis=None),
        case("per tensor, 2 bits", rng.normal(size=(7, 5)), bits=2),
        case("Linear weight (12, 20), axis=0 (a scale per output row), 8 bits", rows((12, 20), 0),
             bits=8, axis=0),
        case("Linear weight (12, 20), axis=1, 4 bits", rows((12, 20), 1), bits=4, axis=1),
        case("axis=-1 on (10, 6), 2 bits", rows((10, 6), 1), bits=2, axis=-1),
        case("a row of zeros, axis=0", zero_row, bits=8, axis=0),
        case("conv weight (8, 4, 3, 3) with an all-zero filter, axis=0, 4 bits", conv, bits=4, axis=0),
        case("conv weight (6, 5, 3, 3), axis=1", rows((6, 5, 3, 3), 1), bits=8, axis=1),
        case("conv weight (4, 3, 2, 5), axis=-1, 8 bits", rows((4, 3, 2, 5), 3), bits=8, axis=-1),
        case("an all-zero array, per tensor", np.zeros((3, 4)), bits=8),
        case("float32 weight (32, 48), axis=0", rows((32, 48), 0).astype(np.float32), bits=8, axis=0),
    ]


def _call_quantize(answer, w, **kw):
    return answer(w, **kw)


def _quantize_judge(inputs: dict, got) -> None:
    w, bits, axis = inputs["w"], inputs.get("bits", 8), inputs.get("axis")
    q_ref, scale_ref, ratio, zero = _quantize_oracle(w, bits, axis)
    qmax = 2 ** (bits - 1) - 1
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Wrong(f"returned {describe(got)}, expected a pair (q, scale).", "return q, scale")
    q, scale = got
    # --- the scale
    if axis is None:
        s = as_float(scale)
        if s is None:
            raise Wrong(f"scale is {describe(scale)}; with axis=None it is one float for the whole array.",
                        "scale = np.abs(w).max() / qmax (or 1.0 when that max is 0), e.g. float(...).")
        s_got = np.array(s)
    else:
        if as_float(scale) is not None or (isinstance(scale, np.ndarray) and scale.size == 1
                                           and scale_ref.size > 1):
            raise Wrong(f"scale is a single number, expected one per index along axis={axis} "
                        f"(shape {scale_ref.shape}).",
                        "Per-channel: take max|w| over every axis except `axis`, with keepdims=True "
                        "(a per-tensor scale throws away the point of axis).")
        if not isinstance(scale, np.ndarray) or scale.dtype.kind != "f":
            raise Wrong(f"scale is {describe(scale)}, expected a float array of shape {scale_ref.shape}.")
        if scale.shape != scale_ref.shape:
            raise Wrong(f"scale has shape {scale.shape}, expected {scale_ref.shape}: size 1 on every "
                        "axis but `axis`, so that q * scale broadcasts against w.",
                        "Reduce over all the OTHER axes, keeping them: "
                        "np.abs(w).max(axis=other_axes, keepdims=True).")
        s_got = scale.astype(np.float64)
    if not np.all(np.isfinite(s_got)) or np.any(s_got == 0):
        raise Wrong("scale contains 0, NaN or inf" + (" for an all-zero slice." if zero.any() else "."),
                    "Where max|w| = 0 the scale is 1.0 (np.where(peak > 0, peak / qmax, 1.0)); "
                    "dividing by a zero scale gives NaN.")
    if not np.allclose(s_got, scale_ref, rtol=1e-5, atol=0):
        zero = np.broadcast_to(zero, s_got.shape)
        hint = None
        if axis is not None and np.allclose(s_got[~zero], np.abs(w).max() / qmax, rtol=1e-5):
            hint = "That is one scale for the whole array: with `axis`, each slice gets max|w| of that slice / qmax."
        for wrong_qmax, h in ((127 if bits != 8 else None, f"qmax depends on `bits`: 2**(bits-1) - 1 = {qmax} "
                               f"for {bits} bits (127 is the 8-bit value)."),
                              (2 ** bits - 1, "qmax = 2**bits - 1 is the unsigned range; a symmetric "
                               "signed code uses -qmax..qmax with qmax = 2**(bits-1) - 1 (127 for 8 bits)."),
                              (2 ** (bits - 1), "qmax = 2**(bits-1) is one too many: +128 does not fit "
                               "in int8 (the range is -128..127); the symmetric range is ±(2**(bits-1) - 1).")):
            if wrong_qmax and np.allclose(s_got[~zero], (scale_ref * qmax / wrong_qmax)[~zero], rtol=1e-5):
                hint = h
        err = float(np.max(np.abs(s_got - scale_ref) / scale_ref))
        raise Wrong(f"scale differs from max|w| / qmax (qmax = {qmax} for {bits} bits; "
                    f"max relative error {err:.3g}).", hint)
    # --- the codes
    if not isinstance(q, np.ndarray):
        raise Wrong(f"q is {describe(q)}, expected a NumPy int8 array of shape {w.shape}.")
    if q.shape != w.shape:
        raise Wrong(f"q has shape {q.shape}, expected {w.shape}.")
    if q.dtype != np.int8:
        deq = np.asarray(q, dtype=np.float64)
        if q.dtype.kind == "f" and np.allclose(deq, q_ref * scale_ref, rtol=1e-5, atol=1e-12) \
                and not np.allclose(deq, q_ref):
            raise Wrong("q holds the dequantised weights q * scale, expected the integer codes.",
                        "Return the codes q (integers in -qmax..qmax) and the scale separately.")
        raise Wrong(f"q has dtype {q.dtype}, expected int8.",
                    "The codes are stored as 8-bit integers: q.astype(np.int8) (that is the "
                    "point: 1 byte per weight instead of 4).")
    qi = q.astype(np.int64)
    # Entries within float rounding of a .5 boundary may go either way (float32 inputs).
    near_half = np.abs(np.abs(ratio - np.floor(ratio)) - 0.5) < 1e-4
    bad = (qi != q_ref) & ~near_half
    if bad.any() or np.any(np.abs(qi - q_ref) > 1):
        hint = None
        for fn, h in ((np.floor, "np.floor rounds down (-0.2 -> -1): use np.round, to the nearest code."),
                      (np.trunc, "Truncation (int() or astype(int) before rounding) drops the fraction: "
                                 "round to the nearest code with np.round first.")):
            cand = np.clip(fn(ratio), -qmax, qmax)
            if np.array_equal(qi[~near_half], cand[~near_half]):
                hint = h
        if hint is None and (np.abs(qi) > qmax).any():
            hint = f"Clip the codes to -qmax..qmax (±{qmax} for {bits} bits)."
        raise Wrong(f"q differs from clip(round(w / scale), -{qmax}, {qmax}) in {int(bad.sum())} "
                    f"of {w.size} entries.", hint)


register(Exercise(
    id="8.2", name="quantize", make_cases=_quantize_cases, call=_call_quantize, judge=_quantize_judge,
    hint="qmax = 2**(bits-1) - 1; scale = max|w| / qmax (1.0 where that max is 0), per tensor or "
         "over all axes but `axis` with keepdims; q = clip(round(w / scale), -qmax, qmax).astype(int8).",
    summary="8, 4 and 2 bits, per tensor and per channel along axis 0, 1 and -1 of 2-D and 4-D "
            "weights, incl. all-zero slices",
    forbidden=("torch",)))


# --------------------------------------------------------------------------- 8.3

def reference_distillation_loss(student_logits, teacher_logits, targets, T=2.0, alpha=0.5):
    """alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)) + (1 − alpha) · CE(student, targets).

    Logits (N, C), targets (N,) int64 -> a scalar tensor; the KL is summed over classes and
    averaged over the batch; no gradient reaches the teacher.
    """
    import torch.nn.functional as F

    log_p_student = F.log_softmax(student_logits / T, dim=1)            # (N, C)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / T, dim=1)   # (N, C)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1).mean()
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(student_logits, targets)


def _kd_variant(s, t, y, T=2.0, alpha=0.5, t_square=True, reverse=False, temp="both",
                reduction="batchmean", ce_sum=False, swap_alpha=False):
    """The loss with one thing changed (float64 torch tensors): what a known mistake computes."""
    import torch.nn.functional as F

    ts = T if temp in ("both", "student") else 1.0
    tt = T if temp in ("both", "teacher") else 1.0
    ls, lt = F.log_softmax(s / ts, dim=1), F.log_softmax(t / tt, dim=1)
    p, log_p, log_q = (ls.exp(), ls, lt) if reverse else (lt.exp(), lt, ls)
    per_row = (p * (log_p - log_q)).sum(dim=1)                  # (N,)
    kl = {"batchmean": per_row.mean(), "sum": per_row.sum(),
          "mean": per_row.sum() / s.numel()}[reduction]
    ce = F.cross_entropy(s, y, reduction="sum" if ce_sum else "mean")
    a = 1 - alpha if swap_alpha else alpha
    return a * (T**2 if t_square else 1.0) * kl + (1 - a) * ce


def _kd_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, n, c, scale=3.0, dtype="float64", **kw):
        return Case(label, dict(student=rng.normal(0, scale, size=(n, c)),
                                teacher=rng.normal(0, scale, size=(n, c)) + 2 * np.eye(c)[rng.integers(0, c, n)] * scale,
                                targets=rng.integers(0, c, size=n), dtype=dtype, kwargs=kw))
    return [
        case("8 samples, 10 classes, T=4, alpha=0.7", 8, 10, T=4.0, alpha=0.7),
        case("default T=2.0 and alpha=0.5", 6, 5),
        case("T=1, alpha=0.3", 5, 4, T=1.0, alpha=0.3),
        case("alpha=1: distillation only, T=3", 7, 6, T=3.0, alpha=1.0),
        case("alpha=0: cross-entropy only", 4, 3, T=5.0, alpha=0.0),
        case("a batch of 1, T=10, alpha=0.9", 1, 10, T=10.0, alpha=0.9),
        case("logits of size 1e4, T=2, alpha=0.6", 6, 5, scale=1e4, T=2.0, alpha=0.6),
        case("float32 logits, T=2.5, alpha=0.8", 16, 10, dtype="float32", T=2.5, alpha=0.8),
    ]


def _kd_call(answer, student, teacher, targets, dtype, kwargs):
    import torch

    s = torch.tensor(student, dtype=getattr(torch, dtype), requires_grad=True)
    t = torch.tensor(teacher, dtype=getattr(torch, dtype), requires_grad=True)   # must get no gradient
    loss = answer(s, t, torch.tensor(targets, dtype=torch.long), **kwargs)
    grad = teacher_grad = None
    if isinstance(loss, torch.Tensor) and loss.numel() == 1 and loss.requires_grad:
        loss.backward()
        grad, teacher_grad = s.grad, t.grad
    return {"loss": loss, "grad": grad, "teacher_grad": teacher_grad}


def _kd_judge(inputs: dict, got) -> None:
    import torch

    kw = inputs["kwargs"]
    T, alpha = kw.get("T", 2.0), kw.get("alpha", 0.5)
    s = torch.tensor(inputs["student"], requires_grad=True)
    t = torch.tensor(inputs["teacher"])
    y = torch.tensor(inputs["targets"])
    ref = _kd_oracle(s, t, y, T, alpha)                       # the oracle, float64
    ref.backward()
    r = ref.item()
    loss = got.get("loss") if isinstance(got, dict) else None
    if not isinstance(loss, TensorData):
        kind = "a number" if as_float(loss) is not None else describe(loss)
        raise Wrong(f"returned {kind}, expected a scalar torch.Tensor.",
                    "Return the tensor itself (no .item()), so that .backward() works.")
    if loss.array.shape != ():
        raise Wrong(f"returned a tensor of shape {loss.array.shape}, expected a scalar.",
                    "Average the per-sample KL over the batch and add the mean cross-entropy.")
    v = float(loss.array)
    big = np.abs(inputs["student"]).max() > 100
    if not np.isfinite(v):
        raise Wrong(f"the loss is {v}" + (" for logits of size 1e4." if big else "."),
                    "softmax then log underflows: use F.log_softmax (log p = z - logsumexp(z)).")
    if not loss.requires_grad or got.get("grad") is None:
        raise Wrong("the loss is not connected to the student's logits: .backward() gives no gradient.",
                    "Compute it with torch operations on student_logits (no .item(), .numpy() or "
                    ".detach() on the student's side).")
    tol = 1e-9 if inputs["dtype"] == "float64" else 1e-5
    if not np.isclose(v, r, rtol=tol * 10, atol=tol):
        hint = None
        with torch.no_grad():
            variants = [
                (dict(t_square=False), "Multiply the KL term by T²: softening by T shrinks its "
                                       "gradients by 1/T², and T² restores their scale (Hinton et al., 2015)."),
                (dict(reverse=True), "The KL goes the other way: KL(teacher ‖ student) = Σ p_teacher · "
                                     "(log p_teacher − log p_student). With F.kl_div(input, target), input "
                                     "is the STUDENT's log-probabilities and target the teacher's."),
                (dict(temp="teacher"), "Divide the student's logits by T too: both distributions are "
                                       "softened with the same temperature."),
                (dict(temp="student"), "Divide the teacher's logits by T too: both distributions are "
                                       "softened with the same temperature."),
                (dict(reduction="sum", ce_sum=True), "That is the sum over the batch: average both "
                                                     "terms over the samples."),
                (dict(reduction="sum"), "The KL term is summed over the batch: average it over the "
                                        "samples (F.kl_div's reduction='batchmean')."),
                (dict(ce_sum=True), "The cross-entropy is summed over the batch: take its mean."),
                (dict(reduction="mean"), "That divides the KL by N·C (F.kl_div's reduction='mean'): "
                                         "sum over classes and average over samples "
                                         "(reduction='batchmean')."),
                (dict(swap_alpha=True), "alpha weighs the distillation (KL) term and 1 − alpha the "
                                        "cross-entropy with the labels, not the other way round."),
            ]
            for change, h in variants:
                if np.isclose(v, _kd_variant(s, t, y, T, alpha, **change).item(), rtol=tol * 10, atol=tol):
                    hint = h
                    break
        raise Wrong(f"loss is {v:.8g}, expected {r:.8g}.", hint)
    if got.get("teacher_grad") is not None and np.abs(got["teacher_grad"].array).max() > 0:
        raise Wrong("a gradient reaches the teacher's logits.",
                    "The teacher is fixed: use teacher_logits.detach() (or compute them under "
                    "torch.no_grad()) so that backward() changes only the student.")
    expect_array(np.asarray(got["grad"].array, np.float64), s.grad.numpy(),
                 "the gradient with respect to the student's logits", rtol=tol * 100, atol=tol * 10)


def _kd_oracle(s, t, y, T, alpha):
    """PyTorch's own KL divergence and cross-entropy, in float64."""
    import torch.nn.functional as F

    kl = F.kl_div(F.log_softmax(s / T, dim=1), F.log_softmax(t / T, dim=1), reduction="batchmean",
                  log_target=True)
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(s, y)


register(Exercise(
    id="8.3", name="distillation_loss", make_cases=_kd_cases, call=_kd_call, judge=_kd_judge,
    hint="alpha · T² · KL(softmax(teacher/T) ‖ softmax(student/T)), the KL summed over classes and "
         "averaged over the batch, + (1 − alpha) · cross_entropy(student, targets); detach the teacher.",
    summary="values and gradients equal F.kl_div + F.cross_entropy with autograd, incl. logits of "
            "1e4, alpha 0 and 1, and no gradient into the teacher"))
