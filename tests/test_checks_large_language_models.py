"""Chapter 07: each check accepts the reference, right answers in other styles, and rejects the
mistakes issue 13 lists, with a hint that names them."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course.exercises import large_language_models as ref
from tests.helpers import assert_fails, assert_passes

# --------------------------------------------------------------------------- right answers, other styles

ALTERNATIVES: dict[str, list[str]] = {
    "layer_norm": [
        # torch.var_mean with the biased estimator
        '''
def layer_norm(x, weight, bias, eps=1e-5):
    var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps) * weight + bias
''',
        # einsum sums and a loop-free E[x²] - E[x]² form, normalised by the last dimension
        '''
def layer_norm(x, weight, bias, eps=1e-5):
    D = x.shape[-1]
    centred = x - torch.einsum("...d->...", x)[..., None] / D
    var = torch.einsum("...d,...d->...", centred, centred)[..., None] / D
    z = centred / torch.sqrt(var + eps)
    return torch.addcmul(bias, z, weight)
''',
        # row by row over a flattened view, with a helper function
        '''
def _normalise_row(row, eps):
    mu = row.sum() / row.numel()
    sigma2 = ((row - mu) ** 2).sum() / row.numel()
    return (row - mu) / (sigma2 + eps) ** 0.5


def layer_norm(x, weight, bias, eps=1e-5):
    rows = x.reshape(-1, x.shape[-1])
    out = torch.stack([_normalise_row(r, eps) for r in rows])
    return out.reshape(x.shape) * weight + bias
''',
    ],
    "TransformerBlock": [
        # one einsum per step, a causal mask of -inf added to the scores, nn.GELU module
        '''
class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff=None):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.h = n_heads
        self.ln_1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln_2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, d_ff)
        self.act = nn.GELU()
        self.fc_out = nn.Linear(d_ff, d_model)

    def forward(self, x):
        N, T, d = x.shape
        q, k, v = self.qkv(self.ln_1(x)).chunk(3, dim=-1)
        q, k, v = (t.reshape(N, T, self.h, d // self.h) for t in (q, k, v))
        s = torch.einsum("nihc,njhc->nhij", q, k) / math.sqrt(d // self.h)
        s = s + torch.full((T, T), float("-inf"), dtype=x.dtype, device=x.device).triu(1)
        a = torch.einsum("nhij,njhc->nihc", s.softmax(-1), v).reshape(N, T, d)
        x = x + self.proj(a)
        return x + self.fc_out(self.act(self.fc(self.ln_2(x))))
''',
        # heads in a Python loop over consecutive slices, mask from torch.triu indices, F.gelu
        '''
class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff=None):
        super().__init__()
        if d_ff is None:
            d_ff = 4 * d_model
        self.n_heads = n_heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
        self.fc, self.fc_out = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def _attend(self, x):
        N, T, d = x.shape
        dh = d // self.n_heads
        qkv = self.qkv(x)
        future = torch.arange(T)[None, :] > torch.arange(T)[:, None]
        heads = []
        for j in range(self.n_heads):
            q = qkv[..., j * dh:(j + 1) * dh]
            k = qkv[..., d + j * dh:d + (j + 1) * dh]
            v = qkv[..., 2 * d + j * dh:2 * d + (j + 1) * dh]
            s = (q @ k.transpose(1, 2)) * dh ** -0.5
            heads.append(torch.softmax(s.masked_fill(future, -1e30), dim=-1) @ v)
        return torch.cat(heads, dim=-1)

    def forward(self, x):
        x = x + self.proj(self._attend(self.ln_1(x)))
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))
''',
    ],
    "GPT": [
        # self-contained: a block with a helper, the head as a tied nn.Linear
        '''
class _Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.fc_out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        N, T, d = x.shape
        q, k, v = self.qkv(self.ln_1(x)).view(N, T, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        s = q @ k.transpose(-1, -2) / math.sqrt(d // self.h)
        s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        x = x + self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(N, T, d))
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab_size, n_ctx, d_model, n_layers, n_heads):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(n_ctx, d_model)
        self.blocks = nn.ModuleList([_Block(d_model, n_heads) for _ in range(n_layers)])
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight

    def forward(self, idx):
        x = self.tok_emb(idx) + self.pos_emb.weight[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))
''',
        # self-contained: the head as F.linear on the embedding matrix, blocks with einsum
        '''
class _CausalBlock(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln_1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.fc_out = nn.Linear(4 * d, d)

    def forward(self, x):
        N, T, d = x.shape
        dh = d // self.h
        q, k, v = (t.unflatten(-1, (self.h, dh)) for t in self.qkv(self.ln_1(x)).split(d, -1))
        s = torch.einsum("nthc,nshc->nhts", q, k) / dh ** 0.5
        allowed = torch.tril(torch.ones(T, T)).bool()
        w = torch.where(allowed, s, torch.tensor(float("-inf"), dtype=s.dtype)).softmax(-1)
        x = x + self.proj(torch.einsum("nhts,nshc->nthc", w, v).flatten(-2))
        return x + self.fc_out(nn.functional.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, vocab_size, n_ctx, d_model, n_layers, n_heads):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(n_ctx, d_model)
        self.blocks = nn.ModuleList()
        for _ in range(n_layers):
            self.blocks.append(_CausalBlock(d_model, n_heads))
        self.ln_f = nn.LayerNorm(d_model)

    def forward(self, idx):
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(positions)[None]
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x), self.tok_emb.weight)
''',
    ],
    "fit_power_law": [
        # the normal equations by hand
        '''
def fit_power_law(n, loss):
    x = np.log(np.asarray(n, dtype=float))
    y = np.log(np.asarray(loss, dtype=float))
    xm, ym = x.mean(), y.mean()
    slope = ((x - xm) * (y - ym)).sum() / ((x - xm) ** 2).sum()
    return float(np.exp(ym - slope * xm)), float(-slope)
''',
        # torch least squares, a namedtuple result
        '''
from collections import namedtuple

PowerLaw = namedtuple("PowerLaw", "a alpha")


def fit_power_law(n, loss):
    X = torch.stack([torch.ones(len(n), dtype=torch.float64),
                     torch.log(torch.as_tensor(np.asarray(n), dtype=torch.float64))], dim=1)
    y = torch.log(torch.as_tensor(np.asarray(loss), dtype=torch.float64))[:, None]
    c, slope = torch.linalg.lstsq(X, y).solution[:, 0].tolist()
    return PowerLaw(math.exp(c), -slope)
''',
    ],
    "LoRALinear": [
        # A initialised like nn.Linear's weights, the update as a second small Linear pair
        '''
class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        for p in base.parameters():
            p.requires_grad = False
        self.base = base
        self.scale = alpha / r
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        return self.base(x) + self.scale * F.linear(F.linear(x, self.A), self.B)

    def merge(self):
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        merged.load_state_dict({k: v.clone() for k, v in self.base.state_dict().items()})
        with torch.no_grad():
            merged.weight += self.scale * (self.B @ self.A)
        return merged
''',
        # einsum forward, copy.deepcopy for merge
        '''
import copy


class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.r, self.alpha = r, alpha
        self.A = nn.Parameter(0.01 * torch.randn(r, base.in_features))
        self.B = nn.Parameter(base.weight.new_zeros(base.out_features, r))

    def forward(self, x):
        update = torch.einsum("...i,ri,or->...o", x, self.A, self.B)
        return self.base(x) + update * (self.alpha / self.r)

    def merge(self):
        merged = copy.deepcopy(self.base)
        merged.weight.data = self.base.weight.data + (self.alpha / self.r) * self.B.data @ self.A.data
        return merged
''',
    ],
}

_PRELUDE = "import math\nimport numpy as np\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn\n"


def _define(source: str, name: str):
    namespace: dict = {"__name__": "__main__"}
    exec(compile(_PRELUDE + source, f"<alternative {name}>", "exec"), namespace)
    return namespace[name]


@pytest.mark.parametrize("name, index", [(n, i) for n, sources in ALTERNATIVES.items()
                                         for i in range(len(sources))])
def test_alternative_answers_pass(name, index):
    assert_passes(name, _define(ALTERNATIVES[name][index], name))


def test_every_exercise_has_two_alternatives():
    from course.exercise import exercises

    mine = [e.name for e in exercises().values() if e.id.startswith("7.")]
    assert sorted(mine) == sorted(ALTERNATIVES)
    assert all(len(v) >= 2 for v in ALTERNATIVES.values())


# --------------------------------------------------------------------------- 7.1

def _ln(ddof=0, eps_outside=False, dim=-1, use_weight=True, use_bias=True, inplace=False):
    def layer_norm(x, weight, bias, eps=1e-5):
        mean = x.mean(dim=dim, keepdim=True)
        var = x.var(dim=dim, keepdim=True, correction=ddof)
        if inplace:
            x -= mean
            z = x / torch.sqrt(var + eps)
        else:
            z = (x - mean) / (torch.sqrt(var) + eps if eps_outside else torch.sqrt(var + eps))
        return z * (weight if use_weight else 1) + (bias if use_bias else 0)
    return layer_norm


def test_layer_norm_reference_passes():
    assert_passes("layer_norm", ref.reference_layer_norm)


def test_layer_norm_unbiased_variance():
    assert_fails("layer_norm", _ln(ddof=1), "biased variance")


def test_layer_norm_torch_var_default_is_unbiased():
    def layer_norm(x, weight, bias, eps=1e-5):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) * weight + bias
    assert_fails("layer_norm", layer_norm, "biased variance")


def test_layer_norm_eps_outside_sqrt():
    assert_fails("layer_norm", _ln(eps_outside=True), "inside the square root")


def test_layer_norm_over_batch_axis():
    assert_fails("layer_norm", _ln(dim=0), "batch axis")


def test_layer_norm_weight_ignored():
    assert_fails("layer_norm", _ln(use_weight=False), "weight")


def test_layer_norm_bias_ignored():
    assert_fails("layer_norm", _ln(use_bias=False), "bias")


def test_layer_norm_both_ignored():
    assert_fails("layer_norm", _ln(use_weight=False, use_bias=False), "weight + bias")


def test_layer_norm_changes_input_in_place():
    assert_fails("layer_norm", _ln(inplace=True), "in place")


def test_layer_norm_returns_numpy():
    def layer_norm(x, weight, bias, eps=1e-5):
        return ref.reference_layer_norm(x, weight, bias, eps).numpy()
    assert_fails("layer_norm", layer_norm, "torch in, torch out")


def test_layer_norm_calling_the_builtin_is_refused():
    def layer_norm(x, weight, bias, eps=1e-5):
        return F.layer_norm(x, x.shape[-1:], weight, bias, eps)
    assert_fails("layer_norm", layer_norm, "layer_norm")

    def layer_norm(x, weight, bias, eps=1e-5):        # noqa: F811
        return torch.layer_norm(x, x.shape[-1:], weight, bias, eps)
    assert_fails("layer_norm", layer_norm, "layer_norm")

    def layer_norm(x, weight, bias, eps=1e-5):        # noqa: F811
        m = nn.LayerNorm(x.shape[-1], eps=eps, dtype=x.dtype)
        with torch.no_grad():
            m.weight.copy_(weight)
            m.bias.copy_(bias)
        return m(x).detach()
    assert_fails("layer_norm", layer_norm, "LayerNorm")


def test_layer_norm_stub():
    def layer_norm(x, weight, bias, eps=1e-5):
        raise NotImplementedError("Exercise 7.1: layer_norm")
    from tests.helpers import verdict
    assert verdict("layer_norm", layer_norm).status == "not_implemented"


# --------------------------------------------------------------------------- 7.2

def _block_class(post_ln=False, causal=True, scale="head", heads="consecutive", mlp_residual=True,
                 act="gelu", extra_param=False, default_d_ff=None):
    class TransformerBlock(nn.Module):
        def __init__(self, d_model, n_heads, d_ff=None):
            super().__init__()
            d_ff = d_ff or (default_d_ff or 4) * d_model
            self.n_heads = n_heads
            self.ln_1, self.ln_2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
            self.fc, self.fc_out = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
            if extra_param:
                self.gate = nn.Parameter(torch.ones(1))

        def attn(self, z):
            N, T, d = z.shape
            h, dh = self.n_heads, d // self.n_heads
            q, k, v = self.qkv(z).split(d, -1)

            def split(t):
                if heads == "consecutive":
                    return t.view(N, T, h, dh).transpose(1, 2)
                return t.view(N, T, dh, h).permute(0, 3, 1, 2)

            q, k, v = split(q), split(k), split(v)
            s = q @ k.transpose(-1, -2) / math.sqrt(dh if scale == "head" else d)
            if causal:
                s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
            o = s.softmax(-1) @ v
            o = o.transpose(1, 2).reshape(N, T, d) if heads == "consecutive" else \
                o.permute(0, 2, 3, 1).reshape(N, T, d)
            return self.proj(o)

        def mlp(self, z):
            a = {"gelu": F.gelu, "relu": F.relu, "tanh": lambda u: F.gelu(u, approximate="tanh")}[act]
            return self.fc_out(a(self.fc(z)))

        def forward(self, x):
            if post_ln:
                x = self.ln_1(x + self.attn(x))
                return self.ln_2(x + self.mlp(x))
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x)) if mlp_residual else self.mlp(self.ln_2(x))

    return TransformerBlock


def test_block_reference_passes():
    assert_passes("TransformerBlock", ref.ReferenceTransformerBlock)


def test_block_test_double_passes():
    assert_passes("TransformerBlock", _block_class())


@pytest.mark.parametrize("change, phrase", [
    (dict(post_ln=True), "Pre-LayerNorm"),
    (dict(causal=False), "causal"),
    (dict(scale="model"), "not by sqrt(d_model)"),
    (dict(heads="interleaved"), "consecutive slices"),
    (dict(mlp_residual=False), "residual around the MLP"),
    (dict(act="relu"), "not ReLU"),
    (dict(act="tanh"), "tanh approximation"),
])
def test_block_mistakes(change, phrase):
    assert_fails("TransformerBlock", _block_class(**change), phrase)


def test_block_extra_parameter():
    assert_fails("TransformerBlock", _block_class(extra_param=True), "parameters", "ln_1")


def test_block_d_ff_default_wrong():
    assert_fails("TransformerBlock", _block_class(default_d_ff=2), "shape", "4 * d_model")


def test_block_missing_part():
    class TransformerBlock(_block_class()):
        def __init__(self, d_model, n_heads, d_ff=None):
            super().__init__(d_model, n_heads, d_ff)
            self.c_attn = self.qkv
            del self.qkv
    assert_fails("TransformerBlock", TransformerBlock, "qkv")


def test_block_using_fused_attention_is_refused():
    class TransformerBlock(_block_class()):
        def attn(self, z):
            N, T, d = z.shape
            q, k, v = self.qkv(z).view(N, T, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(o.transpose(1, 2).reshape(N, T, d))
    assert_fails("TransformerBlock", TransformerBlock, "scaled_dot_product_attention")


def test_block_using_multihead_attention_is_refused():
    class TransformerBlock(_block_class()):
        def __init__(self, d_model, n_heads, d_ff=None):
            super().__init__(d_model, n_heads, d_ff)
            self.mha = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
    assert_fails("TransformerBlock", TransformerBlock, "MultiheadAttention")


def test_block_returns_tuple():
    class TransformerBlock(_block_class()):
        def forward(self, x):
            return super().forward(x), None
    assert_fails("TransformerBlock", TransformerBlock, "tuple")


# --------------------------------------------------------------------------- 7.3

def _gpt_class(tied=True, positions=True, final_ln=True, head_bias=False, block=None):
    Block = block or _block_class()

    class GPT(nn.Module):
        def __init__(self, vocab_size, n_ctx, d_model, n_layers, n_heads):
            super().__init__()
            self.tok_emb = nn.Embedding(vocab_size, d_model)
            self.pos_emb = nn.Embedding(n_ctx, d_model)
            self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
            self.ln_f = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size, bias=head_bias)
            if tied:
                self.head.weight = self.tok_emb.weight

        def forward(self, idx):
            T = idx.shape[1]
            x = self.tok_emb(idx)
            if positions:
                x = x + self.pos_emb(torch.arange(T))
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln_f(x) if final_ln else x)

    return GPT


def test_gpt_reference_passes():
    assert_passes("GPT", ref.ReferenceGPT)


def test_gpt_untied_head_names_the_extra_V_d():
    r = assert_fails("GPT", _gpt_class(tied=False), "tie", "V·d")
    assert "+88" in r.message          # case 1: V·d = 11·8 = 88 extra


def test_gpt_head_with_bias():
    assert_fails("GPT", _gpt_class(head_bias=True), "bias=False")


def test_gpt_no_position_embedding():
    assert_fails("GPT", _gpt_class(positions=False), "position embeddings")


def test_gpt_no_position_embedding_module():
    class GPT(_gpt_class(positions=False)):
        def __init__(self, *args):
            super().__init__(*args)
            del self.pos_emb
    assert_fails("GPT", GPT, "pos_emb")


def test_gpt_no_final_layer_norm():
    assert_fails("GPT", _gpt_class(final_ln=False), "final LayerNorm")


def test_gpt_blocks_not_causal():
    assert_fails("GPT", _gpt_class(block=_block_class(causal=False)), "functional GPT", "7.2")


def test_gpt_using_encoder_layers_is_refused():
    class GPT(nn.Module):
        def __init__(self, vocab_size, n_ctx, d_model, n_layers, n_heads):
            super().__init__()
            self.tok_emb = nn.Embedding(vocab_size, d_model)
            self.pos_emb = nn.Embedding(n_ctx, d_model)
            self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(d_model, n_heads, batch_first=True)
                                        for _ in range(n_layers))
            self.ln_f = nn.LayerNorm(d_model)

        def forward(self, idx):
            x = self.tok_emb(idx) + self.pos_emb(torch.arange(idx.shape[1]))
            for b in self.blocks:
                x = b(x, is_causal=True)
            return self.ln_f(x) @ self.tok_emb.weight.T
    assert_fails("GPT", GPT, "TransformerEncoderLayer")


def test_gpt_meta_device_count_of_gpt2_small():
    with torch.device("meta"):
        model = ref.ReferenceGPT(50257, 1024, 768, 12, 12)
    assert sum(p.numel() for p in model.parameters()) == 124_439_808


# --------------------------------------------------------------------------- 7.4

def test_power_law_reference_passes():
    assert_passes("fit_power_law", ref.reference_fit_power_law)


def test_power_law_fit_in_linear_space():
    from scipy.optimize import least_squares

    def fit_power_law(n, loss):
        n, loss = np.asarray(n, float), np.asarray(loss, float)
        start = ref.reference_fit_power_law(n, loss)
        sol = least_squares(lambda p: p[0] * n ** -p[1] - loss, start, xtol=1e-15, ftol=1e-15, gtol=1e-15)
        return float(sol.x[0]), float(sol.x[1])
    assert_fails("fit_power_law", fit_power_law, "linear space")


def test_power_law_returns_log_a():
    def fit_power_law(n, loss):
        slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
        return float(intercept), float(-slope)
    assert_fails("fit_power_law", fit_power_law, "not log a")


def test_power_law_sign_of_alpha():
    def fit_power_law(n, loss):
        slope, intercept = np.polyfit(np.log(n), np.log(loss), 1)
        return float(np.exp(intercept)), float(slope)
    assert_fails("fit_power_law", fit_power_law, "sign of alpha")


def test_power_law_swapped():
    def fit_power_law(n, loss):
        a, alpha = ref.reference_fit_power_law(n, loss)
        return alpha, a
    assert_fails("fit_power_law", fit_power_law, "order")


def test_power_law_curve_fit_is_refused():
    def fit_power_law(n, loss):
        from scipy.optimize import curve_fit
        (a, alpha), _ = curve_fit(lambda n, a, alpha: a * n ** -alpha, n, loss, p0=(1.0, 0.1))
        return float(a), float(alpha)
    assert_fails("fit_power_law", fit_power_law, "curve_fit")


# --------------------------------------------------------------------------- 7.5

def _lora_class(swap_init=False, scale="alpha/r", freeze=True, merge_into_base=False):
    class LoRALinear(nn.Module):
        def __init__(self, base, r, alpha):
            super().__init__()
            self.base, self.r, self.alpha = base, r, alpha
            if freeze:
                base.requires_grad_(False)
            A, B = torch.randn(r, base.in_features) * 0.1, torch.zeros(base.out_features, r)
            if swap_init:
                A, B = torch.zeros(r, base.in_features), torch.randn(base.out_features, r) * 0.1
            self.A, self.B = nn.Parameter(A), nn.Parameter(B)

        def s(self):
            return self.alpha / self.r if scale == "alpha/r" else self.alpha

        def forward(self, x):
            return self.base(x) + self.s() * x @ self.A.T @ self.B.T

        def merge(self):
            if merge_into_base:
                with torch.no_grad():
                    self.base.weight += self.s() * self.B @ self.A
                return self.base
            m = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
            with torch.no_grad():
                m.weight.copy_(self.base.weight + self.s() * self.B @ self.A)
                if self.base.bias is not None:
                    m.bias.copy_(self.base.bias)
            return m

    return LoRALinear


def test_lora_reference_passes():
    assert_passes("LoRALinear", ref.ReferenceLoRALinear)


def test_lora_A_zero_B_random():
    assert_fails("LoRALinear", _lora_class(swap_init=True), "A is zero and B is random")


def test_lora_scale_alpha():
    assert_fails("LoRALinear", _lora_class(scale="alpha"), "alpha / r, not by alpha")


def test_lora_base_not_frozen():
    assert_fails("LoRALinear", _lora_class(freeze=False), "not frozen")


def test_lora_merge_writes_into_base():
    assert_fails("LoRALinear", _lora_class(merge_into_base=True), "merge() changed base")


def test_lora_merge_copy_then_modify_base_weight_in_place():
    class LoRALinear(_lora_class()):
        def merge(self):
            with torch.no_grad():
                self.base.weight.add_(self.alpha / self.r * self.B @ self.A)
            m = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
            m.load_state_dict(self.base.state_dict())
            return m
    assert_fails("LoRALinear", LoRALinear, "changed base")


def test_lora_B_not_zero():
    class LoRALinear(_lora_class()):
        def __init__(self, base, r, alpha):
            super().__init__(base, r, alpha)
            self.B = nn.Parameter(torch.randn(base.out_features, r))
    assert_fails("LoRALinear", LoRALinear, "B is not zero")


# --------------------------------------------------------------------------- the pre-training script

def test_pretrain_script_runs_briefly(tmp_path):
    from course import pretrain

    record = pretrain.pretrain(steps=2, out=tmp_path / "tiny.npz", full_eval=False)
    assert (tmp_path / "tiny.npz").exists() and (tmp_path / "tiny.json").exists()
    assert record["train"]["steps"] == 2 and 2.0 < record["val_loss_quick"] < 5.0


def test_committed_checkpoint_loads_and_gives_its_recorded_loss():
    import json
    import re

    from course import pretrain
    from course.gpt import load_checkpoint

    path = pretrain.CHECKPOINT
    readme = (pretrain.ROOT / "data" / "README.md").read_text()
    listed = re.search(r"`gpt_python\.npz`.*?`([0-9a-f]{64})`", readme, re.S)
    assert listed and listed.group(1) == pretrain.sha256(path)
    model, meta = load_checkpoint(path)
    _, _, val_ids = pretrain.corpus_ids()
    torch.manual_seed(0)
    quick = pretrain.quick_val_loss(model, val_ids)
    assert abs(quick - meta["val_loss_quick"]) < 2e-3, (quick, meta["val_loss_quick"])
    assert meta["val_loss"] <= 1.40
    assert json.loads(pretrain.CHECKPOINT.with_suffix(".json").read_text())["config"]["n_ctx"] >= 216


def test_sweep_one_size_reproduces_the_committed_figure():
    import json

    from course import pretrain

    record = json.loads(pretrain.SWEEP.read_text())
    cfg = pretrain.SweepConfig(**{k: tuple(map(tuple, v)) if k == "sizes" else v
                                  for k, v in record["config"].items()})
    smallest = record["runs"][0]
    corpus, train_ids, val_ids = pretrain.corpus_ids()
    run = pretrain.sweep_one(smallest["n_layers"], smallest["d_model"], smallest["n_heads"], cfg,
                             train_ids, val_ids, corpus.vocab_size)
    assert run["non_embedding_params"] == smallest["non_embedding_params"]
    assert abs(run["val_loss"] - smallest["val_loss"]) < 0.03
    sizes = [r["non_embedding_params"] for r in record["runs"]]
    assert len(sizes) >= 5 and max(sizes) / min(sizes) >= 30
    assert len({r["tokens"] for r in record["runs"]}) == 1


# --------------------------------------------------------------------------- helper modules

def test_documentation_corpus_split_and_vocabulary():
    from course.data import python_corpus
    from course.prose import DOCS_TRAIN_CHARS, DOCS_VAL_CHARS, documentation_corpus, documentation_text

    docs = documentation_corpus()
    assert (len(docs.train), len(docs.val)) == (DOCS_TRAIN_CHARS, DOCS_VAL_CHARS)
    assert len(documentation_text()) > DOCS_TRAIN_CHARS + DOCS_VAL_CHARS      # they do not overlap
    assert docs.chars == python_corpus().chars
    assert docs.decode(docs.encode(docs.val)) == docs.val


def test_checkpoint_round_trip_into_a_gpt_with_another_head_name(tmp_path):
    from course.gpt import GPT, GPTConfig, load_checkpoint, save_checkpoint

    cfg = GPTConfig(vocab_size=11, n_ctx=8, d_model=8, n_layers=1, n_heads=2)
    torch.manual_seed(1)
    model = GPT(cfg.vocab_size, cfg.n_ctx, cfg.d_model, cfg.n_layers, cfg.n_heads)
    save_checkpoint(model, cfg, tmp_path / "m.npz", extra={"note": "test"})
    Other = _gpt_class()
    loaded, meta = load_checkpoint(tmp_path / "m.npz", Other)
    assert meta["note"] == "test" and meta["config"]["d_model"] == 8
    idx = torch.randint(0, 11, (2, 8))
    with torch.no_grad():
        torch.testing.assert_close(loaded(idx), model(idx), atol=2e-2, rtol=2e-2)   # float16 weights
    assert loaded.head.weight is loaded.tok_emb.weight
