"""Chapter 07 — large language models: LayerNorm, the Transformer block, GPT, scaling laws, LoRA.

Oracles: ``torch.nn.functional.layer_norm`` (7.1); a functional Transformer block written
here in float64 from the weights the check loads (7.2, 7.3), with chapter 01's parameter
count built on the meta device (7.3); least squares by ``numpy.linalg.lstsq`` on
``log loss`` against ``log n`` (7.4); the closed form ``W x + b + (alpha / r) B A x`` (7.5).
The references the notebook falls back on are ``reference_layer_norm``,
``reference_fit_power_law`` and the modules of :mod:`course.gpt` (``ReferenceTransformerBlock``,
``ReferenceGPT``, ``ReferenceLoRALinear`` here).
"""
from __future__ import annotations

import math

import numpy as np

from course.exercise import (Case, Exercise, TensorData, Wrong, as_float, describe, expect_tensor,
                             register)


def __getattr__(name):
    # The reference modules import torch; made on first use so that the checks need no torch.
    classes = {"ReferenceTransformerBlock": "TransformerBlock", "ReferenceGPT": "GPT",
               "ReferenceLoRALinear": "LoRALinear"}
    if name in classes:
        from course import gpt
        value = getattr(gpt, classes[name])
        globals()[name] = value
        return value
    raise AttributeError(name)


def _close(a, b, tol) -> bool:
    return (isinstance(a, np.ndarray) and np.shape(a) == np.shape(b)
            and bool(np.allclose(a.astype(np.float64), np.asarray(b, dtype=np.float64), **tol)))


# --------------------------------------------------------------------------- 7.1

def reference_layer_norm(x, weight, bias, eps=1e-5):
    """(x - mean) / sqrt(var + eps) * weight + bias over the last axis; var is the biased one."""
    mean = x.mean(dim=-1, keepdim=True)                               # (..., 1)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)                # (..., 1), divides by D
    return (x - mean) / (var + eps).sqrt() * weight + bias           # (..., D)


def _ln_variant(x, weight, bias, eps=1e-5, ddof=0, eps_outside=False, axis=-1, use_weight=True,
                use_bias=True):
    """LayerNorm in NumPy with one thing changed: what a known mistake computes."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        mean = x.mean(axis=axis, keepdims=True)
        var = x.var(axis=axis, ddof=ddof, keepdims=True)
        z = (x - mean) / (np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps))
        return z * (weight if use_weight else 1.0) + (bias if use_bias else 0.0)


def _ln_cases(rng: np.random.Generator) -> list[Case]:
    def params(D, dtype=np.float64):
        return dict(weight=(1 + 0.5 * rng.normal(size=D)).astype(dtype),
                    bias=(0.5 * rng.normal(size=D)).astype(dtype))

    return [
        Case("x (4, 8), float32", dict(x=(3 * rng.normal(size=(4, 8)) + 1).astype(np.float32),
                                       **params(8, np.float32))),
        Case("x (2, 3, 16), float64", dict(x=2 * rng.normal(size=(2, 3, 16)) - 1, **params(16))),
        Case("rows of small variance (std 0.001)", dict(x=5 + 1e-3 * rng.normal(size=(3, 10)), **params(10))),
        Case("eps = 0.1", dict(x=rng.normal(size=(3, 6)), eps=0.1, **params(6))),
        Case("D = 1 (every row constant)", dict(x=rng.normal(size=(5, 1)), **params(1))),
        Case("batch of 1, D = 32", dict(x=rng.normal(size=(1, 32)), **params(32))),
    ]


def _ln_call(answer, x, weight, bias, eps=None):
    import torch

    tensors = [torch.tensor(a) for a in (x, weight, bias)]             # copies of the case
    before = [t.clone() for t in tensors]
    out = answer(*tensors) if eps is None else answer(*tensors, eps=eps)
    changed = [name for name, t, b in zip(("x", "weight", "bias"), tensors, before)
               if not torch.equal(t, b)]
    return {"out": out, "changed": changed}


def _ln_judge(inputs: dict, got) -> None:
    import torch
    import torch.nn.functional as F

    x, w, b = inputs["x"], inputs["weight"], inputs["bias"]
    eps = inputs.get("eps", 1e-5)
    as64 = [torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (x, w, b)]
    ref = F.layer_norm(as64[0], (x.shape[-1],), as64[1], as64[2], eps).numpy()
    if got["changed"]:
        raise Wrong(f"your layer_norm changed its input `{got['changed'][0]}` in place.",
                    "In-place operations (x -= mean, x /= std, x.sub_(...)) change the caller's "
                    "tensor: write x - mean, a new tensor, instead.")
    out = expect_tensor(got["out"], np.shape(ref), "output")
    tol = dict(rtol=1e-4, atol=1e-5) if x.dtype == np.float32 else dict(rtol=1e-7, atol=1e-9)
    if not _close(out, ref, tol):
        mistakes = [
            (dict(ddof=1), "Use the biased variance, the mean of (x - mean)² (divide by D, not "
                           "D - 1): torch.var is unbiased unless you pass unbiased=False / correction=0."),
            (dict(eps_outside=True), "eps goes inside the square root: (x - mean) / sqrt(var + eps)."),
            (dict(axis=0), "Normalise each row over its features (the last axis, dim=-1), not over "
                           "the batch axis."),
            (dict(use_weight=False, use_bias=False), "Scale by weight and shift by bias at the end: "
                                                     "z * weight + bias."),
            (dict(use_weight=False), "The weight (the gain γ) is ignored: multiply by it."),
            (dict(use_bias=False), "The bias (the shift β) is ignored: add it."),
            (dict(eps=0.0), "Add eps to the variance before the square root (it keeps a constant "
                            "row from dividing by zero)."),
        ]
        for change, hint in mistakes:
            if _close(out, _ln_variant(x, w, b, **({"eps": eps} | change)), tol):
                raise Wrong("output differs from torch.nn.functional.layer_norm.", hint)
    if not np.all(np.isfinite(out)):
        raise Wrong("output contains NaN or inf.", "A constant row has variance 0: eps inside the "
                    "square root keeps the division finite.")
    if got["out"].dtype != str(torch.from_numpy(x).dtype):
        raise Wrong(f"output has dtype {got['out'].dtype}, expected {torch.from_numpy(x).dtype} "
                    "(the dtype of x).", "Build the result from x itself; do not convert it.")
    if not _close(out, ref, tol):
        err = float(np.max(np.abs(out - ref)))
        raise Wrong(f"output differs from torch.nn.functional.layer_norm (max error {err:.3g}).")


register(Exercise(
    id="7.1", name="layer_norm", make_cases=_ln_cases, call=_ln_call, judge=_ln_judge,
    forbidden=("torch.nn.functional.layer_norm", "torch.nn.LayerNorm", "torch.layer_norm",
               "torch.nn.functional.group_norm", "torch.nn.functional.instance_norm"),
    hint="mean and biased variance over the last axis; (x - mean) / sqrt(var + eps) * weight + bias.",
    summary="incl. small variances, eps = 0.1 and D = 1"))


# --------------------------------------------------------------------------- 7.2

BLOCK_PARTS = ("ln_1", "qkv", "proj", "ln_2", "fc", "fc_out")


def _block_shapes(d: int, d_ff: int) -> dict[str, tuple]:
    return {"ln_1.weight": (d,), "ln_1.bias": (d,), "qkv.weight": (3 * d, d), "qkv.bias": (3 * d,),
            "proj.weight": (d, d), "proj.bias": (d,), "ln_2.weight": (d,), "ln_2.bias": (d,),
            "fc.weight": (d_ff, d), "fc.bias": (d_ff,), "fc_out.weight": (d, d_ff), "fc_out.bias": (d,)}


def _block_weights(rng: np.random.Generator, d: int, d_ff: int, dtype) -> dict[str, np.ndarray]:
    """Weights that make every part of the block matter (pre-activations of size ~1-3)."""
    out = {}
    for name, shape in _block_shapes(d, d_ff).items():
        if name.startswith("ln") and name.endswith("weight"):
            value = 1 + 0.3 * rng.normal(size=shape)
        elif name.endswith("bias"):
            value = 0.2 * rng.normal(size=shape)
        else:
            gain = 1.5 if name.startswith("fc.") else 1.0
            value = gain * rng.normal(size=shape) / math.sqrt(shape[1])
        out[name] = value.astype(dtype)
    return out


def _block_variant(x, w: dict, d: int, n_heads: int, post_ln=False, causal=True, scale="head",
                   heads="consecutive", mlp_residual=True, act="gelu"):
    """A Transformer block in float64 torch from the weights ``w`` (names as in BLOCK_PARTS.*),
    with one thing changed when asked: what a known mistake computes. x (N, T, d) -> (N, T, d)."""
    import torch
    import torch.nn.functional as F

    h, d_head = n_heads, d // n_heads

    def ln(name, z):
        return F.layer_norm(z, (d,), w[f"{name}.weight"], w[f"{name}.bias"])

    def lin(name, z):
        return z @ w[f"{name}.weight"].T + w[f"{name}.bias"]

    def attn(z):
        N, T, _ = z.shape
        q, k, v = lin("qkv", z).split(d, dim=-1)                       # 3 x (N, T, d)

        def split(t):                                                  # -> (N, h, T, d_head)
            if heads == "consecutive":
                return t.view(N, T, h, d_head).transpose(1, 2)
            return t.view(N, T, d_head, h).permute(0, 3, 1, 2)         # head j: features j, j+h, ...

        q, k, v = split(q), split(k), split(v)
        s = q @ k.transpose(-1, -2) / math.sqrt(d_head if scale == "head" else d)   # (N, h, T, T)
        if causal:
            s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
        o = torch.softmax(s, dim=-1) @ v                               # (N, h, T, d_head)
        if heads == "consecutive":
            o = o.transpose(1, 2).reshape(N, T, d)
        else:
            o = o.permute(0, 2, 3, 1).reshape(N, T, d)
        return lin("proj", o)

    act_fn = {"gelu": F.gelu, "tanh": lambda z: F.gelu(z, approximate="tanh"), "relu": F.relu}[act]

    def mlp(z):
        return lin("fc_out", act_fn(lin("fc", z)))

    if post_ln:
        x = ln("ln_1", x + attn(x))
        return ln("ln_2", x + mlp(x))
    x = x + attn(ln("ln_1", x))
    return x + mlp(ln("ln_2", x)) if mlp_residual else mlp(ln("ln_2", x))


BLOCK_MISTAKES = [
    (dict(post_ln=True), "Pre-LayerNorm: normalise the input of each sublayer, x + proj(attn(ln_1(x))), "
                         "not the sum afterwards (that is the original post-LN Transformer)."),
    (dict(causal=False), "The attention must be causal: mask the scores of later positions (key j > "
                         "query i) with -inf before the softmax."),
    (dict(scale="model"), "Scale the scores by sqrt(d_head) = sqrt(d_model / n_heads), the width of "
                          "one head, not by sqrt(d_model)."),
    (dict(heads="interleaved"), "Heads are consecutive slices: head j uses features "
                                "j·d_head .. (j+1)·d_head - 1, i.e. view(N, T, n_heads, d_head), "
                                "not view(N, T, d_head, n_heads) (interleaved)."),
    (dict(mlp_residual=False), "Add the residual around the MLP too: x = x + fc_out(gelu(fc(ln_2(x))))."),
    (dict(act="relu"), "The MLP's activation is GELU (F.gelu or nn.GELU()), not ReLU."),
    (dict(act="tanh"), "Use the exact GELU, x·Φ(x) (F.gelu(x) or nn.GELU() with the default "
                       "approximate='none'), not the tanh approximation."),
]


def _block_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, d, h, N, T, d_ff=None, dtype=np.float64):
        x = rng.normal(size=(N, T, d)).astype(dtype)
        inputs = dict(d_model=d, n_heads=h, d_ff=d_ff, x=x,
                      weights=_block_weights(rng, d, d_ff or 4 * d, dtype), dtype=np.dtype(dtype).name)
        if T >= 3:
            t = int(rng.integers(0, T - 1))
            probe = x.copy()
            probe[:, t + 1:] = rng.normal(size=probe[:, t + 1:].shape)
            inputs |= dict(x_probe=probe, t=t)
        return Case(label, inputs)

    return [case("d_model=8, 2 heads, T=5, float64", 8, 2, 2, 5),
            case("d_model=12, 3 heads, d_ff=20", 12, 3, 2, 6, d_ff=20),
            case("d_model=16, 4 heads, T=1", 16, 4, 3, 1),
            case("one head, d_model=6", 6, 1, 2, 4),
            case("float32 as built: d_model=32, 4 heads, T=7", 32, 4, 2, 7, dtype=np.float32)]


def _load_named(module, prefix: str, weights: dict, shapes: dict):
    """Copy the case's weights into module's submodules; a problem string, or None."""
    import torch

    for name, shape in shapes.items():
        part, attr = name.rsplit(".", 1)
        sub = module
        for p in part.split("."):
            sub = getattr(sub, p, None) if not p.isdigit() else (sub[int(p)] if sub is not None else None)
            if sub is None:
                return (f"has no submodule {prefix}{part}", part)
        param = getattr(sub, attr, None)
        if not isinstance(param, torch.Tensor):
            return (f"{prefix}{part} has no {attr}", part)
        if tuple(param.shape) != tuple(shape):
            return (f"{prefix}{name} has shape {tuple(param.shape)}, expected {tuple(shape)}", part)
        with torch.no_grad():
            param.copy_(torch.from_numpy(weights[name]))
    return None


def _block_call(answer, d_model, n_heads, d_ff, x, weights, dtype, x_probe=None, t=None):
    """Build the learner's block, load the case's weights into its named parts, run it."""
    import torch

    torch.manual_seed(0)
    block = answer(d_model, n_heads) if d_ff is None else answer(d_model, n_heads, d_ff)
    if not isinstance(block, torch.nn.Module):
        return {"problem": f"TransformerBlock(...) made a {type(block).__name__}, not a torch.nn.Module"}
    n_params = int(sum(p.numel() for p in block.parameters()))
    if dtype == "float64":
        block = block.to(torch.float64)
    problem = _load_named(block, "", weights, _block_shapes(d_model, d_ff or 4 * d_model))
    if problem:
        return {"problem": problem[0], "part": problem[1]}
    block.eval()
    with torch.no_grad():
        out = block(torch.tensor(x))
        probe = block(torch.tensor(x_probe)) if x_probe is not None else None
    return {"out": out, "probe": probe, "n_params": n_params}


def _parts_hint() -> str:
    return ("Give the block exactly these parts: ln_1 = nn.LayerNorm(d_model), qkv = nn.Linear(d_model, "
            "3 * d_model), proj = nn.Linear(d_model, d_model), ln_2 = nn.LayerNorm(d_model), "
            "fc = nn.Linear(d_model, d_ff), fc_out = nn.Linear(d_ff, d_model), with d_ff = 4 * d_model "
            "when it is None.")


def _check_causal(inputs: dict, got_out: np.ndarray, got_probe, tol, what="output") -> None:
    if got_probe is None or "t" not in inputs:
        return
    probe = got_probe.array if isinstance(got_probe, TensorData) else got_probe
    t = inputs["t"]
    if isinstance(probe, np.ndarray) and probe.shape == got_out.shape \
            and not np.allclose(probe[:, :t + 1], got_out[:, :t + 1], **tol):
        raise Wrong(f"changing the tokens after position {t} changed the {what} at positions "
                    f"0..{t}: the model sees the future.",
                    "Mask the attention scores of keys j > i with -inf before the softmax.")


def _block_judge(inputs: dict, got) -> None:
    import torch

    d, h = inputs["d_model"], inputs["n_heads"]
    d_ff = inputs["d_ff"] or 4 * d
    if isinstance(got, dict) and "problem" in got:
        raise Wrong(f"your TransformerBlock {got['problem']}.", _parts_hint())
    w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in inputs["weights"].items()}
    x = torch.from_numpy(inputs["x"].astype(np.float64))
    ref = _block_variant(x, w, d, h).numpy()
    if isinstance(got["out"], tuple):
        raise Wrong(f"forward returned a tuple of {len(got['out'])}; return the block's output "
                    "(N, T, d_model) alone.")
    out = expect_tensor(got["out"], np.shape(ref), "output")
    tol = dict(rtol=1e-4, atol=1e-5) if inputs["dtype"] == "float32" else dict(rtol=1e-7, atol=1e-9)
    if not _close(out, ref, tol):
        for change, hint in BLOCK_MISTAKES:
            if _close(out, _block_variant(x, w, d, h, **change).numpy(), tol):
                raise Wrong("output differs from a pre-LN causal block with the same weights.", hint)
    expected = 4 * d + 3 * d * d + 3 * d + d * d + d + 2 * d * d_ff + d_ff + d
    if got["n_params"] != expected:
        raise Wrong(f"your block has {got['n_params']:,} parameters, expected {expected:,}.",
                    "Every parameter lives in ln_1, ln_2, qkv, proj, fc or fc_out (a GELU module "
                    "has none); d_ff defaults to 4 * d_model.")
    if not np.all(np.isfinite(out)):
        raise Wrong("output contains NaN or inf.", "Fill masked scores with -inf only where the "
                    "mask is False: each query can always see itself.")
    _check_causal(inputs, out, got["probe"], tol)
    if not _close(out, ref, tol):
        err = float(np.max(np.abs(out.astype(np.float64) - ref)))
        raise Wrong(f"output differs from a pre-LN causal block with the same weights "
                    f"(max error {err:.3g}).", "x = x + proj(attn(ln_1(x))); x = x + fc_out(gelu(fc(ln_2(x)))), "
                    "q, k, v = qkv(...) split in thirds along the last axis.")


ATTENTION_BUILT_INS = ("torch.nn.MultiheadAttention", "torch.nn.functional.scaled_dot_product_attention",
                       "torch.nn.functional.multi_head_attention_forward", "torch.nn.TransformerEncoderLayer",
                       "torch.nn.TransformerDecoderLayer", "torch.nn.TransformerEncoder",
                       "torch.nn.TransformerDecoder", "torch.nn.Transformer")

register(Exercise(
    id="7.2", name="TransformerBlock", make_cases=_block_cases, call=_block_call, judge=_block_judge,
    forbidden=ATTENTION_BUILT_INS, points=3,
    hint="q, k, v = qkv(ln_1(x)).split(d_model, -1); heads view(N, T, h, d_head).transpose(1, 2); "
         "scores / sqrt(d_head) with a causal mask; softmax; join; proj; then the MLP, both with residuals.",
    summary="incl. an explicit d_ff, T=1, one head, float32, and causality"))


# --------------------------------------------------------------------------- 7.3

def _gpt_shapes(V: int, n_ctx: int, d: int, L: int) -> dict[str, tuple]:
    shapes = {"tok_emb.weight": (V, d), "pos_emb.weight": (n_ctx, d)}
    for i in range(L):
        shapes |= {f"blocks.{i}.{k}": s for k, s in _block_shapes(d, 4 * d).items()}
    return shapes | {"ln_f.weight": (d,), "ln_f.bias": (d,)}


def _gpt_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, V, n_ctx, d, L, h, N, T, dtype=np.float64):
        w = {"tok_emb.weight": rng.normal(size=(V, d)).astype(dtype),
             "pos_emb.weight": rng.normal(size=(n_ctx, d)).astype(dtype),
             "ln_f.weight": (1 + 0.3 * rng.normal(size=d)).astype(dtype),
             "ln_f.bias": (0.2 * rng.normal(size=d)).astype(dtype)}
        for i in range(L):
            w |= {f"blocks.{i}.{k}": v for k, v in _block_weights(rng, d, 4 * d, dtype).items()}
        idx = rng.integers(0, V, size=(N, T))
        inputs = dict(vocab_size=V, n_ctx=n_ctx, d_model=d, n_layers=L, n_heads=h, idx=idx,
                      weights=w, dtype=np.dtype(dtype).name)
        if T >= 3:
            t = int(rng.integers(0, T - 1))
            probe = idx.copy()
            probe[:, t + 1:] = rng.integers(0, V, size=probe[:, t + 1:].shape)
            inputs |= dict(idx_probe=probe, t=t)
        return Case(label, inputs)

    return [case("vocab 11, n_ctx 8, d_model 8, 1 layer, 2 heads, T = n_ctx", 11, 8, 8, 1, 2, 2, 8),
            case("vocab 20, n_ctx 16, d_model 12, 2 layers, 3 heads, T=10", 20, 16, 12, 2, 3, 2, 10),
            case("T=1", 7, 4, 8, 1, 2, 3, 1),
            case("float32 as built: vocab 30, n_ctx 12, d_model 16, 2 layers, 4 heads", 30, 12, 16, 2, 4,
                 2, 9, dtype=np.float32)]


def _gpt_call(answer, vocab_size, n_ctx, d_model, n_layers, n_heads, idx, weights, dtype,
              idx_probe=None, t=None):
    """Build the learner's GPT, count its parameters, load the case's weights, run it."""
    import torch

    torch.manual_seed(0)
    model = answer(vocab_size, n_ctx, d_model, n_layers, n_heads)
    if not isinstance(model, torch.nn.Module):
        return {"problem": f"GPT(...) made a {type(model).__name__}, not a torch.nn.Module"}
    n_params = int(sum(p.numel() for p in model.parameters()))     # shared parameters count once
    blocks = getattr(model, "blocks", None)
    if not isinstance(blocks, torch.nn.ModuleList) or len(blocks) != n_layers:
        return {"problem": "needs blocks = nn.ModuleList of n_layers TransformerBlocks", "part": "blocks"}
    if dtype == "float64":
        model = model.to(torch.float64)
    problem = _load_named(model, "", weights, _gpt_shapes(vocab_size, n_ctx, d_model, n_layers))
    if problem:
        return {"problem": problem[0], "part": problem[1]}
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(idx))
        probe = model(torch.from_numpy(idx_probe)) if idx_probe is not None else None
    return {"logits": logits, "probe": probe, "n_params": n_params}


def _gpt_variant(inputs: dict, positions=True, final_ln=True):
    """GPT logits in float64 from the case's weights, the head tied to tok_emb."""
    import torch
    import torch.nn.functional as F

    d, h, L = inputs["d_model"], inputs["n_heads"], inputs["n_layers"]
    w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in inputs["weights"].items()}
    idx = torch.from_numpy(inputs["idx"])
    T = idx.shape[1]
    x = w["tok_emb.weight"][idx] + (w["pos_emb.weight"][:T] if positions else 0)   # (N, T, d)
    for i in range(L):
        x = _block_variant(x, {k[len(f"blocks.{i}."):]: v for k, v in w.items()
                               if k.startswith(f"blocks.{i}.")}, d, h)
    if final_ln:
        x = F.layer_norm(x, (d,), w["ln_f.weight"], w["ln_f.bias"])
    return (x @ w["tok_emb.weight"].T).numpy()                                      # (N, T, V)


def _gpt_judge(inputs: dict, got) -> None:
    from course.exercises.background import gpt_param_count

    V, n_ctx, d, L = inputs["vocab_size"], inputs["n_ctx"], inputs["d_model"], inputs["n_layers"]
    if isinstance(got, dict) and "problem" in got:
        hints = {"tok_emb": "tok_emb = nn.Embedding(vocab_size, d_model) holds the token embeddings.",
                 "pos_emb": "Learned positions: pos_emb = nn.Embedding(n_ctx, d_model), added to the "
                            "token embeddings.",
                 "ln_f": "A final LayerNorm, ln_f = nn.LayerNorm(d_model), comes before the head.",
                 "blocks": "self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads) for _ in "
                           "range(n_layers))."}
        part = got.get("part", "")
        raise Wrong(f"your GPT {got['problem']}.", hints.get(part.split(".")[0], _parts_hint()))
    expected = gpt_param_count(L, d, V, n_ctx)
    diff = got["n_params"] - expected
    if diff:
        known = {V * d: f"The head has its own V·d = {V}·{d} = {V * d:,} weights: tie it to the token "
                        "embedding (self.head.weight = self.tok_emb.weight), so the matrix counts once.",
                 V * d + V: f"The head has its own V·d = {V * d:,} weights and a bias: make it "
                            "nn.Linear(d_model, vocab_size, bias=False) tied to tok_emb.weight.",
                 V: "The head has no bias: nn.Linear(d_model, vocab_size, bias=False).",
                 -n_ctx * d: "Learned position embeddings pos_emb = nn.Embedding(n_ctx, d_model) are "
                             "parameters too.",
                 -2 * d: "A final LayerNorm ln_f = nn.LayerNorm(d_model) comes before the head."}
        raise Wrong(f"your GPT has {got['n_params']:,} distinct parameters; chapter 01's "
                    f"count_gpt_params({L}, {d}, {V}, {n_ctx}) is {expected:,} (off by {diff:+,}).",
                    known.get(diff, "Only the contract's parts: tok_emb, pos_emb, blocks, ln_f and a "
                                    "head tied to tok_emb.weight (no bias)."))
    ref = _gpt_variant(inputs)
    logits = expect_tensor(got["logits"], np.shape(ref), "logits")
    tol = dict(rtol=1e-4, atol=1e-4) if inputs["dtype"] == "float32" else dict(rtol=1e-7, atol=1e-8)
    if not _close(logits, ref, tol):
        mistakes = [(dict(positions=False), "Add the position embeddings: x = tok_emb(idx) + "
                                            "pos_emb(torch.arange(T))."),
                    (dict(final_ln=False), "Apply the final LayerNorm ln_f after the last block, "
                                           "before the head.")]
        for change, hint in mistakes:
            if _close(logits, _gpt_variant(inputs, **change), tol):
                raise Wrong("logits differ from a functional GPT with the same weights.", hint)
        err = float(np.max(np.abs(logits.astype(np.float64) - ref))) if np.all(np.isfinite(logits)) else np.inf
        raise Wrong(f"logits differ from a functional GPT with the same weights (max error {err:.3g}).",
                    "tok_emb(idx) + pos_emb(arange(T)) -> blocks -> ln_f -> x @ tok_emb.weight.T; "
                    "check your TransformerBlock first (exercise 7.2).")
    _check_causal(inputs, logits, got["probe"], tol, "logits")


register(Exercise(
    id="7.3", name="GPT", make_cases=_gpt_cases, call=_gpt_call, judge=_gpt_judge,
    forbidden=ATTENTION_BUILT_INS, points=3,
    hint="tok_emb(idx) + pos_emb(arange(T)), your blocks, ln_f, then a bias-free head whose weight "
         "IS tok_emb.weight.",
    summary="incl. T = n_ctx, T=1, float32, causality and chapter 01's parameter count"))


# --------------------------------------------------------------------------- 7.4

def reference_fit_power_law(n, loss):
    """(a, alpha) with loss ≈ a · n^(-alpha): least squares of log loss on log n."""
    x, y = np.log(np.asarray(n, dtype=np.float64)), np.log(np.asarray(loss, dtype=np.float64))
    slope, intercept = np.polyfit(x, y, 1)                # y ≈ intercept + slope · x
    return float(np.exp(intercept)), float(-slope)


def _power_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, k, noise, lo=3, hi=7, integer=False):
        n = np.geomspace(10.0 ** lo, 10.0 ** hi, k) * np.exp(rng.uniform(-0.1, 0.1, k))
        a, alpha = rng.uniform(2, 20), rng.uniform(0.03, 0.6)
        loss = a * n ** -alpha * np.exp(noise * rng.normal(size=k))
        return Case(label, dict(n=np.round(n).astype(np.int64) if integer else n, loss=loss))

    return [case("8 noisy points", 8, 0.05),
            case("6 points, noise 10%", 6, 0.1, lo=4, hi=6),
            case("exact power law, integer n", 5, 0.0, integer=True),
            case("two points", 2, 0.0),
            case("20 noisy points over 8 decades", 20, 0.03, lo=1, hi=9)]


def _lstsq_fit(n, loss):
    """The oracle: least squares on [1, log n] by numpy.linalg.lstsq."""
    X = np.stack([np.ones(len(n)), np.log(np.asarray(n, dtype=np.float64))], axis=1)   # (k, 2)
    (c, slope), *_ = np.linalg.lstsq(X, np.log(loss), rcond=None)
    return float(np.exp(c)), float(-slope)


def _power_judge(inputs: dict, got) -> None:
    n, loss = np.asarray(inputs["n"], dtype=np.float64), inputs["loss"]
    a_ref, alpha_ref = _lstsq_fit(n, loss)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise Wrong(f"returned {describe(got)}, expected a pair (a, alpha).", "End with `return a, alpha`.")
    a, alpha = (as_float(v) for v in got)
    if a is None or alpha is None:
        raise Wrong(f"returned ({describe(got[0])}, {describe(got[1])}), expected two numbers.",
                    "Return Python floats: float(a), float(alpha).")

    def close(u, v):
        return bool(np.isclose(u, v, rtol=1e-6, atol=1e-9))

    if close(a, a_ref) and close(alpha, alpha_ref):
        return
    hint = None
    if close(alpha, -alpha_ref):
        hint = ("The sign of alpha: loss = a · n^(-alpha), so log loss = log a - alpha · log n; "
                "alpha is minus the slope (positive when the loss falls).")
    elif close(a, math.log(a_ref)) or close(a, math.log10(a_ref)):
        hint = "Return a itself, not log a: a = exp(intercept)."
    elif close(a, alpha_ref) and close(alpha, a_ref):
        hint = "Return (a, alpha) in that order."
    else:
        with np.errstate(all="ignore"):
            lin_got = float(np.sum((a * n ** -alpha - loss) ** 2))
            lin_ref = float(np.sum((a_ref * n ** -alpha_ref - loss) ** 2))
        if np.isfinite(lin_got) and lin_got < lin_ref * (1 - 1e-9):
            hint = ("That is a fit in linear space (it minimises the squared error of the loss "
                    "itself). Fit a straight line to log loss against log n instead: "
                    "np.polyfit(np.log(n), np.log(loss), 1).")
    raise Wrong(f"returned a = {a:.6g}, alpha = {alpha:.6g}; least squares in log–log space gives "
                f"a = {a_ref:.6g}, alpha = {alpha_ref:.6g}.", hint)


register(Exercise(
    id="7.4", name="fit_power_law", make_cases=_power_cases, judge=_power_judge,
    forbidden=("scipy.optimize.curve_fit",),
    hint="log loss = log a - alpha · log n: fit a line to (log n, log loss); a = exp(intercept), "
         "alpha = -slope.",
    summary="incl. noisy points, integer n and two points"))


# --------------------------------------------------------------------------- 7.5

def _lora_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, d_in, d_out, r, alpha, bias=True, lead=(5,)):
        f32 = np.float32
        return Case(label, dict(
            d_in=d_in, d_out=d_out, r=r, alpha=alpha, bias=bias,
            W=(rng.normal(size=(d_out, d_in)) / math.sqrt(d_in)).astype(f32),
            b=(0.3 * rng.normal(size=d_out)).astype(f32) if bias else None,
            A=rng.normal(size=(r, d_in)).astype(f32), B=rng.normal(size=(d_out, r)).astype(f32),
            x=rng.normal(size=lead + (d_in,)).astype(f32)))

    return [case("in 8, out 6, r 2, alpha 4", 8, 6, 2, 4.0),
            case("in 16, out 12, r 4, alpha 1", 16, 12, 4, 1.0),
            case("no bias, r 1, alpha 2", 5, 7, 1, 2.0, bias=False),
            case("r 8, alpha 16, x (2, 3, in)", 24, 10, 8, 16.0, lead=(2, 3))]


def _lora_call(answer, d_in, d_out, r, alpha, bias, W, b, A, B, x):
    """Wrap a known nn.Linear, probe the module at initialisation, with known A and B, and merged."""
    import torch

    torch.manual_seed(0)
    base = torch.nn.Linear(d_in, d_out, bias=bias)
    with torch.no_grad():
        base.weight.copy_(torch.from_numpy(W))
        if bias:
            base.bias.copy_(torch.from_numpy(b))
    module = answer(base, r, alpha)
    if not isinstance(module, torch.nn.Module):
        return {"problem": f"LoRALinear(...) made a {type(module).__name__}, not a torch.nn.Module"}
    for name, shape in (("A", (r, d_in)), ("B", (d_out, r))):
        p = getattr(module, name, None)
        if not isinstance(p, torch.nn.Parameter):
            return {"problem": f"has no parameter {name} (an nn.Parameter of shape {shape})"}
        if tuple(p.shape) != shape:
            return {"problem": f"has {name} of shape {tuple(p.shape)}, expected {shape}"}
    xt = torch.from_numpy(x)
    report = {"A0": module.A.detach().clone(), "B0": module.B.detach().clone()}
    with torch.no_grad():
        report["init_out"] = module(xt)
    report["trainable"] = sorted(("A" if p is module.A else "B" if p is module.B else
                                  "base." + n.split(".")[-1] if any(p is q for q in base.parameters())
                                  else n) for n, p in module.named_parameters() if p.requires_grad)
    report["n_trainable"] = int(sum(p.numel() for p in module.parameters() if p.requires_grad))
    report["base_frozen"] = not any(p.requires_grad for p in base.parameters())
    with torch.no_grad():
        module.A.copy_(torch.from_numpy(A))
        module.B.copy_(torch.from_numpy(B))
    out = module(xt)
    report["out"] = out.detach()
    if out.requires_grad:
        out.sum().backward()
    report["base_grad"] = base.weight.grad is not None
    merged = module.merge()
    report["merged_type"] = type(merged).__name__
    report["merged_is_base"] = merged is base or (isinstance(merged, torch.nn.Linear)
                                                 and merged.weight is base.weight)
    report["base_weight_after"] = base.weight.detach().clone()
    report["base_bias_after"] = base.bias.detach().clone() if bias else None
    if isinstance(merged, torch.nn.Linear):
        with torch.no_grad():
            report["merged_out"] = merged(xt)
        report["merged_weight"] = merged.weight.detach()
        report["merged_bias"] = merged.bias.detach() if merged.bias is not None else None
    return report


def _lora_judge(inputs: dict, got) -> None:
    import torch

    if isinstance(got, dict) and "problem" in got:
        raise Wrong(f"your LoRALinear {got['problem']}.",
                    "In __init__: self.base = base (frozen), self.A = nn.Parameter((r, in_features), "
                    "random), self.B = nn.Parameter(torch.zeros(out_features, r)).")
    r, alpha, bias = inputs["r"], inputs["alpha"], inputs["bias"]
    W, b, A, B = (torch.from_numpy(inputs[k]).double() if inputs[k] is not None else None
                  for k in ("W", "b", "A", "B"))
    x = torch.from_numpy(inputs["x"]).double()
    base_out = x @ W.T + (b if bias else 0)
    tol = dict(rtol=1e-4, atol=1e-5)
    A0, B0 = got["A0"].array, got["B0"].array
    if not np.any(A0) and np.any(B0):
        raise Wrong("at initialisation A is zero and B is random.",
                    "It is the other way round (Hu et al., 2021): A random, B = 0, so that B A = 0 "
                    "at the start and the gradient of B is not zero.")
    if np.any(B0):
        raise Wrong("at initialisation B is not zero, so LoRALinear does not start as base.",
                    "B = nn.Parameter(torch.zeros(out_features, r)): the update B A starts at 0.")
    if not np.any(A0):
        raise Wrong("at initialisation A is zero (and B too): neither would ever get a gradient.",
                    "Draw A at random, e.g. torch.randn(r, in_features) / sqrt(in_features).")
    init_out = expect_tensor(got["init_out"], base_out.shape, "output at initialisation")
    if not _close(init_out, base_out.numpy(), tol):
        raise Wrong("at initialisation the output differs from base(x).",
                    "forward(x) = base(x) + (alpha / r) · x Aᵀ Bᵀ, which is base(x) while B = 0.")
    if not got["base_frozen"] or any(n.startswith("base") for n in got["trainable"]) or got["base_grad"]:
        raise Wrong(f"base is not frozen: trainable parameters are {got['trainable']}.",
                    "Freeze the wrapped layer: base.requires_grad_(False) (or set requires_grad = "
                    "False on its weight and bias); only A and B train.")
    expected = r * (inputs["d_in"] + inputs["d_out"])
    if got["trainable"] != ["A", "B"] or got["n_trainable"] != expected:
        raise Wrong(f"trainable parameters {got['trainable']} ({got['n_trainable']:,} numbers), "
                    f"expected A and B only, r · (in + out) = {expected:,}.")
    ref = (base_out + (alpha / r) * x @ A.T @ B.T).numpy()
    out = expect_tensor(got["out"], np.shape(ref), "output")
    if not _close(out, ref, tol):
        hint = None
        if _close(out, (base_out + alpha * x @ A.T @ B.T).numpy(), tol):
            hint = "Scale the update by alpha / r, not by alpha."
        elif _close(out, (base_out + x @ A.T @ B.T).numpy(), tol):
            hint = "Scale the update by alpha / r."
        raise Wrong("output with random A and B differs from base(x) + (alpha / r) · x Aᵀ Bᵀ.", hint)
    if got["merged_is_base"] or not np.array_equal(got["base_weight_after"].array, inputs["W"]) or \
            (bias and not np.array_equal(got["base_bias_after"].array, inputs["b"])):
        raise Wrong("merge() changed base (it wrote the update into base's weight).",
                    "merge() returns a NEW nn.Linear with weight W + (alpha / r) · B A and base's "
                    "bias; base itself stays as it was (you may want to un-merge later).")
    if got["merged_type"] != "Linear":
        raise Wrong(f"merge() returned a {got['merged_type']}, expected a torch.nn.Linear.")
    merged_w = W + (alpha / r) * B @ A
    _close_or(got["merged_weight"].array, merged_w.numpy(), tol, "merged weight",
              "weight = W + (alpha / r) · B A, of shape (out, in).")
    if bias:
        if got["merged_bias"] is None:
            raise Wrong("the merged layer has no bias.", "Copy base's bias into the merged layer.")
        _close_or(got["merged_bias"].array, inputs["b"], tol, "merged bias", "Copy base's bias.")
    elif got["merged_bias"] is not None:
        raise Wrong("the merged layer has a bias, but base has none.", "bias=base.bias is not None.")
    _close_or(got["merged_out"].array, ref, tol, "merged layer's output", "merge()(x) must equal forward(x).")


def _close_or(got, ref, tol, what, hint) -> None:
    if not _close(got, ref, tol):
        raise Wrong(f"{what} differs from the closed form.", hint)


register(Exercise(
    id="7.5", name="LoRALinear", make_cases=_lora_cases, call=_lora_call, judge=_lora_judge, points=2,
    hint="base frozen; A (r, in) random, B (out, r) zeros; forward = base(x) + (alpha / r) · x Aᵀ Bᵀ; "
         "merge() -> new nn.Linear(W + (alpha / r) B A, same bias).",
    summary="incl. no bias, batch dims, freezing and merge()"))
