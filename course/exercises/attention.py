"""Chapter 05 — attention: scaled dot-product attention, masks, positions, multi-head attention.

Oracles: ``torch.nn.functional.scaled_dot_product_attention`` (5.1), ``torch.tril`` (5.2),
the closed formula of Vaswani et al. (2017) evaluated in PyTorch (5.3) and
``torch.nn.MultiheadAttention`` given the learner's weights (5.4). The ``reference_*``
functions below are what the notebook uses while an exercise is not done yet.
"""
from __future__ import annotations

import math

import numpy as np

from course.exercise import Case, Exercise, TensorData, Wrong, describe, expect_array, register


def _rows_match(got, expected, valid=None, rtol=1e-5, atol=1e-7) -> bool:
    """``got`` equals ``expected`` (shape and values) on the rows ``valid`` (..., T_q) selects."""
    if not isinstance(got, np.ndarray) or np.shape(got) != np.shape(expected):
        return False
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if valid is not None:
        if not np.any(valid):
            return False
        valid = np.broadcast_to(valid, got.shape[:-1])
        got, expected = got[valid], expected[valid]
    with np.errstate(invalid="ignore"):
        return bool(np.allclose(got, expected, rtol=rtol, atol=atol))


# --------------------------------------------------------------------------- 5.1

def reference_scaled_dot_product_attention(Q, K, V, mask=None):
    """softmax(Q Kᵀ / √d_k) V over the last two axes; mask True where attention is allowed.

    Q (..., T_q, d_k), K (..., T_k, d_k), V (..., T_k, d_v), mask broadcastable to
    (..., T_q, T_k) -> output (..., T_q, d_v), weights (..., T_q, T_k).
    """
    d_k = Q.shape[-1]
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d_k)                # (..., T_q, T_k)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return weights @ V, weights


def _attention(Q, K, V, mask=None, scale=None, axis=-1, flip=False, stable=True):
    """The reference with one thing changed: what a known mistake computes."""
    scale = 1 / np.sqrt(Q.shape[-1]) if scale is None else scale
    scores = Q @ np.swapaxes(K, -1, -2) * scale
    if mask is not None:
        scores = np.where(~mask if flip else mask, scores, -np.inf)
    with np.errstate(all="ignore"):
        if stable:
            top = scores.max(axis=axis, keepdims=True)
            scores = scores - np.where(np.isfinite(top), top, 0)
        weights = np.exp(scores)
        weights = weights / weights.sum(axis=axis, keepdims=True)
        return weights @ V, weights


def _sdpa_cases(rng: np.random.Generator) -> list[Case]:
    def x(*shape, scale=1.0):
        return rng.normal(scale=scale, size=shape)

    def padding(n, t_q, t_k):                       # (n, 1, t_k): the last keys are padding
        keep = rng.integers(1, t_k, size=n)         # at least one real key, at least one pad
        return (np.arange(t_k)[None, :] < keep[:, None])[:, None, :]

    def random_mask(*shape):                        # every row allows at least one key
        m = rng.random(shape) < 0.6
        m[..., rng.integers(shape[-1])] = True
        return m

    causal4 = np.tril(np.ones((4, 4), dtype=bool))
    return [
        Case("3 tokens, no batch dims", dict(Q=x(3, 4), K=x(3, 4), V=x(3, 2))),
        Case("batch of 2, T_q=3 != T_k=5, d_v=6", dict(Q=x(2, 3, 4), K=x(2, 5, 4), V=x(2, 5, 6))),
        Case("d_k=64", dict(Q=x(2, 5, 64), K=x(2, 5, 64), V=x(2, 5, 3))),
        Case("causal mask (4, 4) broadcast over 2 batch dims",
             dict(Q=x(2, 3, 4, 8), K=x(2, 3, 4, 8), V=x(2, 3, 4, 5), mask=causal4)),
        Case("padding mask (N, 1, T_k)", dict(Q=x(3, 4, 8), K=x(3, 6, 8), V=x(3, 6, 2),
                                              mask=padding(3, 4, 6))),
        Case("full mask (N, T_q, T_k)", dict(Q=x(2, 5, 4), K=x(2, 7, 4), V=x(2, 7, 3),
                                             mask=random_mask(2, 5, 7))),
        Case("scores of size 1e4", dict(Q=x(2, 4, 4, scale=100.0), K=x(2, 6, 4, scale=100.0),
                                        V=x(2, 6, 3), mask=random_mask(2, 4, 6))),
        Case("batch of 1, float32", dict(Q=x(1, 5, 8).astype(np.float32),
                                         K=x(1, 5, 8).astype(np.float32),
                                         V=x(1, 5, 4).astype(np.float32))),
    ]


def _sdpa_oracle(Q, K, V, mask=None):
    """PyTorch's op in float64 for the output; softmax of the masked scores for the weights."""
    import torch
    import torch.nn.functional as F

    q, k, v = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (Q, K, V))
    m = None if mask is None else torch.from_numpy(np.asarray(mask))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if m is not None:
        scores = scores.masked_fill(~m, float("-inf"))
    return out.numpy(), torch.softmax(scores, dim=-1).numpy()


def _sdpa_judge(inputs: dict, got) -> None:
    Q, K, V, mask = inputs["Q"], inputs["K"], inputs["V"], inputs.get("mask")
    out_ref, w_ref = _sdpa_oracle(Q, K, V, mask)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Wrong(f"returned {describe(got)}, expected a pair (output, weights).",
                    "End with `return output, weights`.")
    out, weights = got
    tol = dict(rtol=1e-4, atol=1e-6) if Q.dtype == np.float32 else dict(rtol=1e-6, atol=1e-9)

    # Known mistakes, recognised by what they compute (before NaN or shape complaints).
    mistakes = [
        (dict(scale=1.0), "Divide the scores by sqrt(d_k) (the size of the last axis of Q) "
                          "before the softmax."),
        (dict(scale=1 / Q.shape[-1]), "Divide by sqrt(d_k), not by d_k."),
        (dict(axis=-2), "The softmax runs over the keys: normalise along the last axis "
                        "(axis=-1), so that each query's weights sum to 1."),
    ]
    if mask is not None:
        mistakes.append((dict(flip=True), "The mask is True where attention is ALLOWED: keep "
                         "those scores and set the others to -inf (np.where(mask, scores, -np.inf))."))
    for change, hint in mistakes:
        m_out, m_w = _attention(Q, K, V, mask, **change)
        valid = None
        if change.get("flip"):        # rows the flipped mask leaves empty are not judged
            valid = np.broadcast_to(~mask, w_ref.shape).any(axis=-1)
        if _rows_match(out, m_out, valid, **tol) and not _rows_match(out, out_ref, None, **tol):
            raise Wrong("output: values differ from PyTorch's scaled_dot_product_attention.", hint)
        if _rows_match(weights, m_w, valid, **tol) and not _rows_match(weights, w_ref, None, **tol):
            raise Wrong("weights: values differ from softmax(Q Kᵀ / √d_k).", hint)

    big = np.abs(Q).max() > 30                   # the case with scores of size 1e4
    for value, ref, what in ((out, out_ref, "output"), (weights, w_ref, "weights")):
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" \
                and value.shape == ref.shape and not np.all(np.isfinite(value)):
            raise Wrong(f"{what} contains {'NaN' if np.isnan(value).any() else 'inf'}"
                        f"{' for scores of size 1e4' if big else ''}.",
                        "exp() overflows for large scores: subtract each row's maximum score "
                        "before exp (softmax does not change when you shift a row).")
        ref = ref.astype(Q.dtype)
        try:
            expect_array(value, ref, what, **tol)
        except Wrong as w:
            if "values differ" in w.message:
                w.message = w.message.replace("the reference", "PyTorch")
                if mask is not None and w.hint is None:
                    w.hint = "Check how the mask is applied: True means the query may look at the key."
            raise


register(Exercise(
    id="5.1", name="scaled_dot_product_attention", make_cases=_sdpa_cases, judge=_sdpa_judge,
    forbidden=("torch",), points=2,
    hint="scores = Q @ Kᵀ / sqrt(d_k); masked scores to -inf; softmax over the last axis; @ V.",
    summary="incl. masks, batch dims and scores of size 1e4"))


# --------------------------------------------------------------------------- 5.2

def reference_causal_mask(T):
    """(T, T) bool, True on and below the diagonal: query i may look at keys 0..i."""
    return np.tril(np.ones((T, T), dtype=bool))


def _causal_cases(rng: np.random.Generator) -> list[Case]:
    return [Case("T=4", dict(T=4)), Case("T=1", dict(T=1)),
            Case("random T", dict(T=int(rng.integers(5, 40))))]


def _causal_judge(inputs: dict, got) -> None:
    import torch

    T = inputs["T"]
    ref = torch.ones(T, T, dtype=torch.bool).tril().numpy()
    if isinstance(got, np.ndarray) and got.shape == ref.shape and got.dtype == np.bool_ \
            and not np.array_equal(got, ref):
        if np.array_equal(got, ~ref):
            hint = "True marks what a query may look at: itself and the earlier positions."
        elif np.array_equal(got, ref.T):
            hint = "That is the upper triangle: row i (query i) may look at columns 0..i."
        elif np.array_equal(got, np.tril(ref, -1)):
            hint = "A query may look at itself too: keep the diagonal True."
        else:
            hint = None
        raise Wrong(f"mask differs from the causal mask in {int((got != ref).sum())} places.", hint)
    if isinstance(got, np.ndarray) and got.shape == ref.shape and got.dtype != np.bool_:
        raise Wrong(f"mask has dtype {got.dtype}, expected bool.",
                    "Masks are boolean arrays (dtype=bool), True where attention is allowed.")
    expect_array(got, ref, "mask", dtype_kind="b")


register(Exercise(
    id="5.2", name="causal_mask", make_cases=_causal_cases, judge=_causal_judge,
    hint="Row i is a query, column j a key: allowed when j <= i.", summary="incl. T=1"))


# --------------------------------------------------------------------------- 5.3

def reference_sinusoidal_positions(T, d_model):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(same) -> (T, d_model)."""
    pos = np.arange(T)[:, None]                                   # (T, 1)
    freq = 10000.0 ** (-np.arange(0, d_model, 2) / d_model)       # (d_model/2,)
    pe = np.zeros((T, d_model))
    pe[:, 0::2] = np.sin(pos * freq)                              # (T, d_model/2)
    pe[:, 1::2] = np.cos(pos * freq)
    return pe


def _positions_oracle(T, d_model, *, swap=False, per_column=False, halves=False, start=0,
                      base=10000.0):
    """The closed formula in PyTorch, element by element (variants: known mistakes)."""
    import torch

    pos = torch.arange(start, start + T, dtype=torch.float64)[:, None]      # (T, 1)
    col = torch.arange(d_model, dtype=torch.float64)[None, :]               # (1, d_model)
    pair = col if per_column else 2 * torch.div(col, 2, rounding_mode="floor")   # 2i
    angle = pos / torch.pow(torch.tensor(base, dtype=torch.float64), pair / d_model)
    even = (col % 2 == 0)
    if halves:
        half = d_model // 2
        angle = pos / base ** (2 * torch.arange(half, dtype=torch.float64) / d_model)
        return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1).numpy()
    pe = torch.where(even != swap, torch.sin(angle), torch.cos(angle))
    return pe.numpy()


def _positions_cases(rng: np.random.Generator) -> list[Case]:
    return [Case("T=4, d_model=6", dict(T=4, d_model=6)),
            Case("T=50, d_model=16", dict(T=50, d_model=16)),
            Case("T=1, d_model=2", dict(T=1, d_model=2)),
            Case("random size", dict(T=int(rng.integers(2, 100)), d_model=int(2 * rng.integers(2, 65))))]


def _positions_judge(inputs: dict, got) -> None:
    T, d = inputs["T"], inputs["d_model"]
    ref = _positions_oracle(T, d)
    mistakes = [
        (dict(swap=True), "Sine goes in the even columns (0, 2, 4, ...), cosine in the odd ones."),
        (dict(per_column=True), "Columns 2i and 2i+1 share one frequency, 1/10000^(2i/d_model): "
                                "use the even index 2i in the exponent for both."),
        (dict(halves=True), "Interleave: sin in columns 0, 2, 4, ... and cos in 1, 3, 5, ..., "
                            "not all sines first and then all cosines."),
        (dict(start=1), "Positions start at 0."),
        (dict(base=1e4 ** 2), "The base is 10000 and the exponent 2i/d_model."),
    ]
    if isinstance(got, np.ndarray) and got.shape == ref.shape and not np.allclose(got, ref):
        for change, hint in mistakes:
            if np.allclose(got, _positions_oracle(T, d, **change), rtol=1e-6, atol=1e-9):
                raise Wrong("values differ from the formula of Vaswani et al. (2017).", hint)
    expect_array(got, ref, "positions", rtol=1e-6, atol=1e-9)


register(Exercise(
    id="5.3", name="sinusoidal_positions", make_cases=_positions_cases, judge=_positions_judge,
    hint="PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)).",
    summary="incl. T=1"))


# --------------------------------------------------------------------------- 5.4

LINEARS = ("W_q", "W_k", "W_v", "W_o")


def _reference_mha_class():
    import torch
    from torch import nn

    class ReferenceMultiHeadAttention(nn.Module):
        """Multi-head attention, batch-first; mask True where attention is allowed."""

        def __init__(self, d_model, n_heads):
            super().__init__()
            assert d_model % n_heads == 0, "d_model must be a multiple of n_heads"
            self.n_heads, self.d_head = n_heads, d_model // n_heads
            self.W_q, self.W_k, self.W_v, self.W_o = (nn.Linear(d_model, d_model) for _ in range(4))

        def split(self, x):                     # (N, T, d_model) -> (N, h, T, d_head)
            N, T, _ = x.shape
            return x.view(N, T, self.n_heads, self.d_head).transpose(1, 2)

        def forward(self, x_q, x_kv=None, mask=None):
            x_kv = x_q if x_kv is None else x_kv
            q, k, v = self.split(self.W_q(x_q)), self.split(self.W_k(x_kv)), self.split(self.W_v(x_kv))
            scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)     # (N, h, T_q, T_k)
            if mask is not None:
                if mask.dim() == 3:                                        # (N, T_q, T_k)
                    mask = mask[:, None]                                   # same for every head
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            self.last_weights = weights.detach()                           # for plots
            out = (weights @ v).transpose(1, 2).flatten(2)                 # (N, T_q, d_model)
            return self.W_o(out)

    return ReferenceMultiHeadAttention


def __getattr__(name):
    # The reference class is made on first use, so that importing the checks needs no torch.
    if name == "ReferenceMultiHeadAttention":
        cls = _reference_mha_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def _mha_cases(rng: np.random.Generator) -> list[Case]:
    def x(*shape):
        return rng.normal(size=shape).astype(np.float32)

    def weights(d):
        bound = 1 / math.sqrt(d)
        return {f"{n}.{p}": rng.uniform(-bound, bound, size=(d, d) if p == "weight" else (d,))
                .astype(np.float32) for n in LINEARS for p in ("weight", "bias")}

    def some_mask(*shape):
        m = rng.random(shape) < 0.6
        m[..., rng.integers(shape[-1])] = True      # every query may look at some key
        return m

    causal = np.tril(np.ones((6, 6), dtype=bool))
    return [
        Case("self-attention, d_model=8, 2 heads", dict(d_model=8, n_heads=2, x_q=x(2, 5, 8),
                                                        weights=weights(8))),
        Case("causal mask (T, T), 3 heads", dict(d_model=12, n_heads=3, x_q=x(2, 6, 12),
                                                 mask=causal, weights=weights(12))),
        Case("cross-attention, T_q=4, T_k=7", dict(d_model=16, n_heads=4, x_q=x(3, 4, 16),
                                                   x_kv=x(3, 7, 16), weights=weights(16))),
        Case("cross-attention with a mask (N, T_q, T_k)",
             dict(d_model=8, n_heads=4, x_q=x(2, 3, 8), x_kv=x(2, 5, 8),
                  mask=some_mask(2, 3, 5), weights=weights(8))),
        Case("batch of 1, one head", dict(d_model=6, n_heads=1, x_q=x(1, 4, 6), weights=weights(6))),
        Case("d_head=1 (n_heads = d_model)", dict(d_model=4, n_heads=4, x_q=x(2, 3, 4),
                                                  weights=weights(4))),
    ]


def _call_mha(answer, d_model, n_heads, x_q, weights, x_kv=None, mask=None):
    """Build the learner's module, load the case's weights into W_q..W_o, run forward."""
    import torch

    torch.manual_seed(0)
    module = answer(d_model, n_heads)
    if not isinstance(module, torch.nn.Module):
        return {"problem": f"MultiHeadAttention(d_model, n_heads) made a {type(module).__name__}, "
                           "not a torch.nn.Module"}
    for name in LINEARS:
        layer = getattr(module, name, None)
        if not isinstance(layer, torch.nn.Linear):
            return {"problem": f"has no attribute {name} that is an nn.Linear", "missing": name}
        if tuple(layer.weight.shape) != (d_model, d_model) or layer.bias is None:
            return {"problem": f"{name} should be nn.Linear(d_model, d_model) with a bias; it has "
                               f"weight {tuple(layer.weight.shape)} and "
                               f"{'no bias' if layer.bias is None else 'a bias'}"}
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weights[f"{name}.weight"]))
            layer.bias.copy_(torch.from_numpy(weights[f"{name}.bias"]))
    kwargs = {}
    if x_kv is not None:
        kwargs["x_kv"] = torch.from_numpy(x_kv)
    if mask is not None:
        kwargs["mask"] = torch.from_numpy(mask)
    with torch.no_grad():
        return module(torch.from_numpy(x_q), **kwargs)


def _mha_oracle(inputs: dict):
    """torch.nn.MultiheadAttention with the same weights, in float64."""
    import torch
    from torch import nn

    d, h, w = inputs["d_model"], inputs["n_heads"], inputs["weights"]
    t = {k: torch.from_numpy(v).double() for k, v in w.items()}
    mha = nn.MultiheadAttention(d, h, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([t["W_q.weight"], t["W_k.weight"], t["W_v.weight"]]))
        mha.in_proj_bias.copy_(torch.cat([t["W_q.bias"], t["W_k.bias"], t["W_v.bias"]]))
        mha.out_proj.weight.copy_(t["W_o.weight"])
        mha.out_proj.bias.copy_(t["W_o.bias"])
    x_q = torch.from_numpy(inputs["x_q"]).double()
    x_kv = torch.from_numpy(inputs["x_kv"]).double() if "x_kv" in inputs else x_q
    attn_mask = None
    if "mask" in inputs:
        blocked = ~torch.from_numpy(inputs["mask"])           # PyTorch's bool mask: True = blocked
        attn_mask = blocked.repeat_interleave(h, dim=0) if blocked.dim() == 3 else blocked
    with torch.no_grad():
        out, _ = mha(x_q, x_kv, x_kv, attn_mask=attn_mask, need_weights=False)
    return out.numpy()


def _mha_mistake(inputs: dict, split="heads", scale="head", w_o=True, own_kv=True, flip=False):
    """Multi-head attention in NumPy with one thing changed: what a known mistake computes."""
    d, h, w = inputs["d_model"], inputs["n_heads"], inputs["weights"]
    x_q = inputs["x_q"].astype(np.float64)
    x_kv = inputs["x_kv"].astype(np.float64) if ("x_kv" in inputs and own_kv) else x_q

    def lin(name, x):
        return x @ w[f"{name}.weight"].T.astype(np.float64) + w[f"{name}.bias"]

    def heads(x):                                # (N, T, d) -> (N, h, T, d/h)
        N, T, _ = x.shape
        if split == "heads":
            return x.reshape(N, T, h, d // h).transpose(0, 2, 1, 3)
        if split == "reshape":                   # a reshape without the transpose
            return x.reshape(N, h, T, d // h)
        return x.reshape(N, T, d // h, h).transpose(0, 3, 1, 2)      # strided heads

    q, k, v = heads(lin("W_q", x_q)), heads(lin("W_k", x_kv)), heads(lin("W_v", x_kv))
    mask = inputs.get("mask")
    if mask is not None and mask.ndim == 3:
        mask = mask[:, None]
    scale_value = 1 / math.sqrt(d // h if scale == "head" else d)
    out, _ = _attention(q, k, v, mask, scale=scale_value, flip=flip)   # (N, h, T_q, d/h)
    N, _, T_q, _ = out.shape
    if split == "heads":
        out = out.transpose(0, 2, 1, 3).reshape(N, T_q, d)
    elif split == "reshape":
        out = out.reshape(N, T_q, d)
    else:
        out = out.transpose(0, 2, 3, 1).reshape(N, T_q, d)
    return lin("W_o", out) if w_o else out


def _mha_judge(inputs: dict, got) -> None:
    if isinstance(got, dict) and "problem" in got:
        hint = ("Create the four projections in __init__: self.W_q = nn.Linear(d_model, d_model), "
                "and likewise W_k, W_v and W_o (the output projection).")
        raise Wrong(f"your MultiHeadAttention {got['problem']}.", hint)
    if isinstance(got, tuple):
        raise Wrong(f"forward returned a tuple of {len(got)}; return only the output "
                    "(N, T_q, d_model).", "nn.MultiheadAttention returns (output, weights); "
                    "this exercise wants the output alone.")
    if isinstance(got, TensorData):
        got = got.array
    elif not isinstance(got, np.ndarray):
        raise Wrong(f"forward returned {describe(got)}, expected a torch.Tensor (N, T_q, d_model).",
                    "Did you forget to return the output?")
    ref = _mha_oracle(inputs)
    tol = dict(rtol=1e-4, atol=1e-5)
    if got.shape == ref.shape and not np.allclose(got, ref, **tol):
        mistakes = [
            (dict(own_kv=False), "Keys and values come from x_kv (when it is given); queries from x_q."),
            (dict(split="reshape"), "Split heads with view(N, T, n_heads, d_head).transpose(1, 2): "
                                    "a plain reshape to (N, n_heads, T, d_head) mixes positions."),
            (dict(split="strided"), "Each head takes a contiguous block of d_head features: "
                                    "view(N, T, n_heads, d_head), not view(N, T, d_head, n_heads)."),
            (dict(scale="model"), "Scale by sqrt(d_head) = sqrt(d_model / n_heads), the size of "
                                  "each head's queries, not sqrt(d_model)."),
            (dict(w_o=False), "Apply the output projection W_o after joining the heads."),
            (dict(flip=True), "The mask is True where attention is ALLOWED: fill the scores "
                              "where the mask is False with -inf."),
        ]
        for change, hint in mistakes:
            m = _mha_mistake(inputs, **change)
            valid = None
            if change.get("flip"):
                mask = inputs["mask"] if "mask" in inputs else None
                if mask is None:
                    continue
                valid = np.broadcast_to(~mask, (got.shape[0],) + mask.shape[-2:]).any(-1)
            if _rows_match(got, m, valid, **tol):
                raise Wrong("output differs from nn.MultiheadAttention with the same weights.", hint)
        if not np.all(np.isfinite(got)):
            raise Wrong("output contains NaN or inf.", "A query whose keys are all masked gets "
                        "NaN; check that the mask keeps the keys where it is True.")
    if got.shape != ref.shape:
        raise Wrong(f"output has shape {got.shape}, expected {ref.shape} (N, T_q, d_model).",
                    "Join the heads back: (N, h, T_q, d_head) -> (N, T_q, h·d_head), then W_o.")
    if not np.all(np.isfinite(got)):
        raise Wrong("output contains NaN or inf.")
    if not np.allclose(got, ref, **tol):
        err = float(np.max(np.abs(got - ref)))
        raise Wrong(f"output differs from nn.MultiheadAttention with the same weights "
                    f"(max error {err:.3g}).")


register(Exercise(
    id="5.4", name="MultiHeadAttention", make_cases=_mha_cases, judge=_mha_judge, call=_call_mha,
    forbidden=("torch.nn.MultiheadAttention", "torch.nn.functional.scaled_dot_product_attention",
               "torch.nn.functional.multi_head_attention_forward"), points=3,
    hint="Project with W_q, W_k, W_v; split into heads (N, h, T, d_head); attention with "
         "sqrt(d_head); join the heads; W_o.",
    summary="incl. cross-attention, both mask shapes and one head"))
