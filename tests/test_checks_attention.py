"""Chapter 05: each check accepts the reference and rejects the mistakes issue 8 lists, with a hint."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from course.exercises import attention as ref
from tests.helpers import assert_fails, assert_passes


# --------------------------------------------------------------------------- 5.1

def _sdpa(scale="sqrt", axis=-1, flip=False, stable=True, fill=-np.inf):
    """A NumPy attention with one mistake switched on."""
    def scaled_dot_product_attention(Q, K, V, mask=None):
        d_k = Q.shape[-1]
        div = {"sqrt": np.sqrt(d_k), "none": 1.0, "d_k": d_k}[scale]
        scores = Q @ np.swapaxes(K, -1, -2) / div
        if mask is not None:
            scores = np.where(~mask if flip else mask, scores, fill)
        if stable:
            scores = scores - scores.max(axis=axis, keepdims=True)
        w = np.exp(scores)
        w = w / w.sum(axis=axis, keepdims=True)
        return w @ V, w
    return scaled_dot_product_attention


def test_sdpa_reference_passes():
    assert_passes("scaled_dot_product_attention", ref.reference_scaled_dot_product_attention)


def test_sdpa_no_sqrt_dk():
    assert_fails("scaled_dot_product_attention", _sdpa(scale="none"), "sqrt(d_k)")


def test_sdpa_divides_by_dk():
    assert_fails("scaled_dot_product_attention", _sdpa(scale="d_k"), "not by d_k")


def test_sdpa_softmax_over_wrong_axis():
    assert_fails("scaled_dot_product_attention", _sdpa(axis=-2), "last axis")


def test_sdpa_mask_polarity_flipped():
    with np.errstate(all="ignore"):
        assert_fails("scaled_dot_product_attention", _sdpa(flip=True), "ALLOWED")


def test_sdpa_mask_polarity_flipped_with_large_negative_fill():
    assert_fails("scaled_dot_product_attention", _sdpa(flip=True, fill=-1e9), "ALLOWED")


def test_sdpa_no_max_subtraction():
    with np.errstate(all="ignore"):
        r = assert_fails("scaled_dot_product_attention", _sdpa(stable=False), "maximum", "1e4")
    assert "NaN" in r.message or "inf" in r.message


def test_sdpa_mask_ignored():
    def scaled_dot_product_attention(Q, K, V, mask=None):
        return _sdpa()(Q, K, V)
    assert_fails("scaled_dot_product_attention", scaled_dot_product_attention, "mask")


def test_sdpa_returns_output_only():
    assert_fails("scaled_dot_product_attention", lambda Q, K, V, mask=None: _sdpa()(Q, K, V, mask)[0],
                 "pair")


def test_sdpa_returns_nothing():
    def scaled_dot_product_attention(Q, K, V, mask=None):
        _sdpa()(Q, K, V, mask)
    assert_fails("scaled_dot_product_attention", scaled_dot_product_attention, "None", "return")


def test_sdpa_returns_lists():
    assert_fails("scaled_dot_product_attention",
                 lambda Q, K, V, mask=None: tuple(a.tolist() for a in _sdpa()(Q, K, V, mask)), "list")


def test_sdpa_float32_output_for_float64_input():
    assert_fails("scaled_dot_product_attention",
                 lambda Q, K, V, mask=None: tuple(a.astype(np.float32) for a in _sdpa()(Q, K, V, mask)),
                 "float64")


def test_sdpa_wrong_shape():
    assert_fails("scaled_dot_product_attention",
                 lambda Q, K, V, mask=None: tuple(a[..., :1] for a in _sdpa()(Q, K, V, mask)), "shape")


def test_sdpa_using_torch_is_rejected():
    def scaled_dot_product_attention(Q, K, V, mask=None):
        import torch
        import torch.nn.functional as F
        m = None if mask is None else torch.from_numpy(np.asarray(mask))
        out = F.scaled_dot_product_attention(*(torch.from_numpy(a) for a in (Q, K, V)), attn_mask=m)
        return out.numpy(), _sdpa()(Q, K, V, mask)[1]
    assert_fails("scaled_dot_product_attention", scaled_dot_product_attention, "torch")


def test_sdpa_returning_tensors():
    def scaled_dot_product_attention(Q, K, V, mask=None):
        out, w = _sdpa()(Q, K, V, mask)
        return tensor(out), tensor(w)
    tensor = torch.from_numpy           # defined outside the answer's source
    assert_fails("scaled_dot_product_attention", scaled_dot_product_attention, "torch.Tensor")


def test_sdpa_modifying_the_input():
    def scaled_dot_product_attention(Q, K, V, mask=None):
        Q /= np.sqrt(Q.shape[-1])
        scores = Q @ np.swapaxes(K, -1, -2)
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        w = np.exp(scores - scores.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        return w @ V, w
    assert_fails("scaled_dot_product_attention", scaled_dot_product_attention, "in place")


# --------------------------------------------------------------------------- 5.2

def test_causal_reference_passes():
    assert_passes("causal_mask", ref.reference_causal_mask)


def test_causal_without_the_diagonal():
    assert_fails("causal_mask", lambda T: np.tril(np.ones((T, T), dtype=bool), -1), "diagonal")


def test_causal_upper_triangle():
    assert_fails("causal_mask", lambda T: np.triu(np.ones((T, T), dtype=bool)), "upper triangle")


def test_causal_polarity_flipped():
    assert_fails("causal_mask", lambda T: np.triu(np.ones((T, T), dtype=bool), 1), "True marks")


def test_causal_float_mask():
    assert_fails("causal_mask", lambda T: np.tril(np.ones((T, T))), "bool")


def test_causal_list():
    assert_fails("causal_mask", lambda T: np.tril(np.ones((T, T), dtype=bool)).tolist(), "NumPy array")


def test_causal_torch_tensor():
    assert_fails("causal_mask", lambda T: torch.ones(T, T, dtype=torch.bool).tril(), "torch.Tensor")


# --------------------------------------------------------------------------- 5.3

def _positions(swap=False, per_column=False, halves=False, start=0, dtype=np.float64):
    def sinusoidal_positions(T, d_model):
        pos = np.arange(start, start + T)[:, None]
        if halves:
            angle = pos / 10000 ** (np.arange(0, d_model, 2) / d_model)
            return np.concatenate([np.sin(angle), np.cos(angle)], axis=1).astype(dtype)
        col = np.arange(d_model)
        expo = col if per_column else col - col % 2
        angle = pos / 10000 ** (expo / d_model)
        even = (col % 2 == 0) != swap
        return np.where(even, np.sin(angle), np.cos(angle)).astype(dtype)
    return sinusoidal_positions


def test_positions_reference_passes():
    assert_passes("sinusoidal_positions", ref.reference_sinusoidal_positions)
    assert_passes("sinusoidal_positions", _positions())


def test_positions_sin_and_cos_swapped():
    assert_fails("sinusoidal_positions", _positions(swap=True), "even columns")


def test_positions_frequency_per_column():
    assert_fails("sinusoidal_positions", _positions(per_column=True), "share one frequency")


def test_positions_halves_not_interleaved():
    assert_fails("sinusoidal_positions", _positions(halves=True), "interleave")


def test_positions_start_at_one():
    assert_fails("sinusoidal_positions", _positions(start=1), "start at 0")


def test_positions_float32():
    assert_fails("sinusoidal_positions", _positions(dtype=np.float32), "float64")


def test_positions_transposed():
    assert_fails("sinusoidal_positions", lambda T, d_model: _positions()(T, d_model).T.copy(), "shape")


# --------------------------------------------------------------------------- 5.4

class _MHA(nn.Module):
    """Multi-head attention with one mistake switched on."""
    split, scale, use_w_o, use_kv, flip, with_w_o, bias, returns_tuple = \
        "heads", "head", True, True, False, True, True, False

    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.d = n_heads, d_model
        self.W_q, self.W_k, self.W_v = (nn.Linear(d_model, d_model, bias=self.bias) for _ in range(3))
        if self.with_w_o:
            self.W_o = nn.Linear(d_model, d_model)

    def heads(self, x):
        N, T, d = x.shape
        if self.split == "reshape":
            return x.reshape(N, self.h, T, d // self.h)
        if self.split == "strided":
            return x.view(N, T, d // self.h, self.h).permute(0, 3, 1, 2)
        return x.view(N, T, self.h, d // self.h).transpose(1, 2)

    def forward(self, x_q, x_kv=None, mask=None):
        x_kv = x_q if (x_kv is None or not self.use_kv) else x_kv
        q, k, v = self.heads(self.W_q(x_q)), self.heads(self.W_k(x_kv)), self.heads(self.W_v(x_kv))
        d_scale = self.d // self.h if self.scale == "head" else self.d
        s = q @ k.transpose(-1, -2) / math.sqrt(d_scale)
        if mask is not None:
            mask = mask[:, None] if mask.dim() == 3 else mask
            s = s.masked_fill(mask if self.flip else ~mask, float("-inf"))
        w = s.softmax(-1)
        out = w @ v                                            # (N, h, T_q, d_head)
        N, _, T_q, _ = out.shape
        if self.split == "reshape":
            out = out.reshape(N, T_q, self.d)
        elif self.split == "strided":
            out = out.permute(0, 2, 3, 1).reshape(N, T_q, self.d)
        else:
            out = out.transpose(1, 2).reshape(N, T_q, self.d)
        out = self.W_o(out) if self.use_w_o else out
        return (out, w) if self.returns_tuple else out


def _mistake(**flags):
    return type("MultiHeadAttention", (_MHA,), flags)


def test_mha_reference_passes():
    assert_passes("MultiHeadAttention", ref.ReferenceMultiHeadAttention)
    assert_passes("MultiHeadAttention", _mistake())


@pytest.mark.parametrize("split", ["reshape", "strided"])
def test_mha_heads_split_along_the_wrong_axis(split):
    assert_fails("MultiHeadAttention", _mistake(split=split), "n_heads, d_head")


def test_mha_sqrt_d_model():
    assert_fails("MultiHeadAttention", _mistake(scale="model"), "sqrt(d_head)")


def test_mha_w_o_not_applied():
    assert_fails("MultiHeadAttention", _mistake(use_w_o=False), "W_o")


def test_mha_w_o_missing():
    assert_fails("MultiHeadAttention", _mistake(with_w_o=False, use_w_o=False), "no attribute W_o")


def test_mha_linears_without_bias():
    assert_fails("MultiHeadAttention", _mistake(bias=False), "bias")


def test_mha_mask_polarity_flipped():
    assert_fails("MultiHeadAttention", _mistake(flip=True), "ALLOWED")


def test_mha_x_kv_ignored():
    assert_fails("MultiHeadAttention", _mistake(use_kv=False), "x_kv")


def test_mha_returns_a_tuple():
    assert_fails("MultiHeadAttention", _mistake(returns_tuple=True), "only the output")


def test_mha_not_a_module():
    def MultiHeadAttention(d_model, n_heads):
        return lambda x_q, x_kv=None, mask=None: x_q
    assert_fails("MultiHeadAttention", MultiHeadAttention, "nn.Module")


def test_mha_wrapping_nn_multiheadattention_is_rejected():
    class MultiHeadAttention(_MHA):
        def __init__(self, d_model, n_heads):
            super().__init__(d_model, n_heads)
            self.inner = nn.MultiheadAttention(d_model, n_heads, batch_first=True)

        def forward(self, x_q, x_kv=None, mask=None):
            x_kv = x_q if x_kv is None else x_kv
            return self.inner(x_q, x_kv, x_kv, attn_mask=None if mask is None else ~mask)[0]
    assert_fails("MultiHeadAttention", MultiHeadAttention, "MultiheadAttention")


def test_mha_calling_torch_sdpa_is_rejected():
    import torch.nn.functional as F

    class MultiHeadAttention(_MHA):
        def forward(self, x_q, x_kv=None, mask=None):
            x_kv = x_q if x_kv is None else x_kv
            q, k, v = self.heads(self.W_q(x_q)), self.heads(self.W_k(x_kv)), self.heads(self.W_v(x_kv))
            m = None if mask is None else (mask[:, None] if mask.dim() == 3 else mask)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
            return self.W_o(out.transpose(1, 2).flatten(2))
    assert_fails("MultiHeadAttention", MultiHeadAttention, "scaled_dot_product_attention")


def test_mha_calling_torch_sdpa_under_another_name_is_caught_at_run_time():
    sdpa = torch.nn.functional        # the attribute is looked up at call time

    class MultiHeadAttention(_MHA):
        def forward(self, x_q, x_kv=None, mask=None):
            x_kv = x_q if x_kv is None else x_kv
            q, k, v = self.heads(self.W_q(x_q)), self.heads(self.W_k(x_kv)), self.heads(self.W_v(x_kv))
            m = None if mask is None else (mask[:, None] if mask.dim() == 3 else mask)
            out = getattr(sdpa, "scaled_" + "dot_product_attention")(q, k, v, attn_mask=m)
            return self.W_o(out.transpose(1, 2).flatten(2))
    assert_fails("MultiHeadAttention", MultiHeadAttention, "scaled_dot_product_attention")


def test_mha_returns_numpy_wrong_shape():
    class MultiHeadAttention(_MHA):
        def forward(self, x_q, x_kv=None, mask=None):
            return super().forward(x_q, x_kv, mask)[:, :1]
    assert_fails("MultiHeadAttention", MultiHeadAttention, "shape")


def test_mha_own_method_named_like_the_torch_op_passes():
    """A helper method called scaled_dot_product_attention is the learner's own, not F's."""
    class MultiHeadAttention(_MHA):
        def scaled_dot_product_attention(self, q, k, v, mask=None):
            s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
            if mask is not None:
                s = s.masked_fill(~mask, float("-inf"))
            return s.softmax(-1) @ v

        def forward(self, x_q, x_kv=None, mask=None):
            x_kv = x_q if x_kv is None else x_kv
            q, k, v = self.heads(self.W_q(x_q)), self.heads(self.W_k(x_kv)), self.heads(self.W_v(x_kv))
            m = None if mask is None else (mask[:, None] if mask.dim() == 3 else mask)
            out = self.scaled_dot_product_attention(q, k, v, m)      # (N, h, T_q, d_head)
            return self.W_o(out.transpose(1, 2).flatten(2))
    assert_passes("MultiHeadAttention", MultiHeadAttention)


# --------------------------------------------------------------------------- right answers in other styles
# Run through the notebook's check and through the grader by tests/test_right_answers.py (issue 18).

ALTERNATIVES: dict[str, list[str]] = {
    "scaled_dot_product_attention": [
        '''from collections import namedtuple

import numpy as np
from scipy.special import softmax

Attention = namedtuple("Attention", "output weights")


def scaled_dot_product_attention(Q, K, V, mask=None):
    scores = np.einsum("...qd,...kd->...qk", Q, K) / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    return Attention(np.einsum("...qk,...kv->...qv", weights, V), weights)
''',
        # a helper softmax, math.sqrt from the notebook's first cell, a large negative fill
        '''def softmax_last(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def scaled_dot_product_attention(Q, K, V, mask=None):
    scores = (Q @ K.swapaxes(-1, -2)) * (1.0 / math.sqrt(K.shape[-1]))
    if mask is not None:
        scores = np.where(np.asarray(mask, dtype=bool), scores, -1e30)
    weights = softmax_last(scores)
    return weights @ V, weights
''',
    ],
    "causal_mask": [
        '''def causal_mask(T):
    return np.arange(T)[:, None] >= np.arange(T)[None, :]     # key j <= query i
''',
        '''import numpy as np


def causal_mask(T):
    mask = np.zeros((T, T), dtype=bool)
    for i in range(T):
        mask[i, :i + 1] = True
    return mask
''',
    ],
    "sinusoidal_positions": [
        '''import math

import numpy as np


def sinusoidal_positions(T, d_model):
    pe = np.empty((T, d_model))
    for pos in range(T):
        for i in range(0, d_model, 2):
            angle = pos / 10000 ** (i / d_model)
            pe[pos, i] = math.sin(angle)
            pe[pos, i + 1] = math.cos(angle)
    return pe
''',
        # sin and cos side by side, then interleaved by a reshape
        '''def sinusoidal_positions(T, d_model):
    inv_freq = np.exp(-np.log(10000.0) * np.arange(0, d_model, 2) / d_model)   # (d_model/2,)
    angle = np.outer(np.arange(T), inv_freq)                                # (T, d_model/2)
    return np.stack([np.sin(angle), np.cos(angle)], axis=-1).reshape(T, d_model)
''',
    ],
    "MultiHeadAttention": [
        # a method of the learner's own named like PyTorch's op (issue 18, cause 4)
        '''class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.h, self.d_k = n_heads, d_model // n_heads
        self.W_q, self.W_k = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.W_v, self.W_o = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)

    def scaled_dot_product_attention(self, q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)    # (N, h, T_q, T_k)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1) @ v

    def heads(self, x):                                           # (N, T, d) -> (N, h, T, d_k)
        return x.unflatten(-1, (self.h, self.d_k)).transpose(1, 2)

    def forward(self, x_q, x_kv=None, mask=None):
        x_kv = x_q if x_kv is None else x_kv
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)                              # (N, 1, T_q, T_k)
        out = self.scaled_dot_product_attention(self.heads(self.W_q(x_q)), self.heads(self.W_k(x_kv)),
                                                self.heads(self.W_v(x_kv)), mask)
        return self.W_o(out.transpose(1, 2).flatten(2))           # (N, T_q, d_model)
''',
        # one head at a time, einsum, heads joined with torch.cat
        '''import math

import torch
from torch import nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def forward(self, x_q, x_kv=None, mask=None):
        if x_kv is None:
            x_kv = x_q
        q, k, v = self.W_q(x_q), self.W_k(x_kv), self.W_v(x_kv)
        d_head = q.shape[-1] // self.n_heads
        outs = []
        for head in range(self.n_heads):
            cols = slice(head * d_head, (head + 1) * d_head)
            s = torch.einsum("nqd,nkd->nqk", q[..., cols], k[..., cols]) / math.sqrt(d_head)
            if mask is not None:
                s = torch.where(mask, s, torch.tensor(float("-inf"), dtype=s.dtype))
            outs.append(torch.einsum("nqk,nkd->nqd", s.softmax(dim=-1), v[..., cols]))
        return self.W_o(torch.cat(outs, dim=-1))
''',
    ],
}
