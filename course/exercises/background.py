"""Chapter 01 — large models by the numbers: parameters, compute, time and memory."""
from __future__ import annotations

import numpy as np

from course.exercise import Case, Exercise, Wrong, as_float, expect_number, register

SECONDS_PER_DAY = 24 * 60 * 60


# --------------------------------------------------------------------------- 1.1

def gpt_param_count(n_layers: int, d_model: int, vocab_size: int, n_ctx: int) -> int:
    """Oracle: build a GPT-2/3 shaped model on the meta device and count its parameters."""
    import torch
    from torch import nn

    d = d_model
    with torch.device("meta"):
        def block():
            return nn.ModuleDict(dict(
                ln_1=nn.LayerNorm(d), qkv=nn.Linear(d, 3 * d), proj=nn.Linear(d, d),
                ln_2=nn.LayerNorm(d), fc=nn.Linear(d, 4 * d), fc_out=nn.Linear(4 * d, d)))

        model = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, d), wpe=nn.Embedding(n_ctx, d),
            blocks=nn.ModuleList(block() for _ in range(n_layers)), ln_f=nn.LayerNorm(d),
            head=nn.Linear(d, vocab_size, bias=False)))
        model["head"].weight = model["wte"].weight          # tied: counted once
    return sum(p.numel() for p in model.parameters())


def _count_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case("GPT-2 small (12 layers, d_model 768, n_ctx 1024)",
                  dict(n_layers=12, d_model=768, vocab_size=50257, n_ctx=1024)),
             Case("default vocab_size and n_ctx", dict(n_layers=2, d_model=64))]
    for _ in range(3):
        cases.append(Case("small random model", dict(
            n_layers=int(rng.integers(1, 7)), d_model=int(8 * rng.integers(1, 17)),
            vocab_size=int(rng.integers(50, 1000)), n_ctx=int(rng.integers(16, 257)))))
    cases.append(Case("GPT-3 175B (96 layers, d_model 12288)", dict(n_layers=96, d_model=12288)))
    return cases


def _count_judge(inputs: dict, got) -> None:
    args = dict(vocab_size=50257, n_ctx=2048) | inputs
    ref = gpt_param_count(**args)
    if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
        raise Wrong(f"returned {got!r}, expected a whole number of type int.",
                    "A parameter count is an int; avoid '/' (true division gives a float).")
    L, d, V, T = args["n_layers"], args["d_model"], args["vocab_size"], args["n_ctx"]
    diff = int(got) - ref
    known = {V * d: "The output head is tied to the token embedding: count that matrix once.",
             -T * d: "Learned position embeddings (n_ctx × d_model) are parameters too.",
             -L * 9 * d: "Every Linear has a bias: 3d + d + 4d + d per block.",
             -(L * 4 * d + 2 * d): "Each block has two LayerNorms (a weight and a bias each), "
                                   "plus one final LayerNorm."}
    if diff:
        raise Wrong(f"{int(got):,} parameters, expected {ref:,} (off by {diff:+,}).",
                    known.get(diff))


register(Exercise(
    id="1.1", name="count_gpt_params", make_cases=_count_cases,
    judge=_count_judge, points=2,
    hint="Per block: attention 4·d² + 4d, MLP 8·d² + 5d, two LayerNorms 4d; then embeddings.",
    summary="incl. GPT-2 small, GPT-3 175B and the default arguments"))


# --------------------------------------------------------------------------- 1.2

def reference_training_flops(n_params: float, n_tokens: float) -> float:
    """C ≈ 6·N·D: forward 2·N·D (a multiply and an add per weight and token), backward 4·N·D."""
    return 6.0 * n_params * n_tokens


def _flops_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case("GPT-3 175B on 300B tokens", dict(n_params=175e9, n_tokens=300e9))]
    for _ in range(4):
        cases.append(Case("random model and data size", dict(
            n_params=float(10 ** rng.uniform(6, 12)), n_tokens=float(10 ** rng.uniform(8, 13)))))
    cases.append(Case("integer arguments", dict(n_params=int(rng.integers(1, 10**6)),
                                                n_tokens=int(rng.integers(1, 10**6)))))
    return cases


def _flops_judge(inputs: dict, got) -> None:
    N, D = inputs["n_params"], inputs["n_tokens"]
    ref = reference_training_flops(N, D)
    try:
        expect_number(got, ref, "total FLOPs", rtol=1e-9)
    except Wrong as w:
        if as_float(got) is not None and np.isclose(as_float(got), 2.0 * N * D):
            w.hint = "2·N·D is the forward pass alone; the backward pass costs about twice that."
        raise


register(Exercise(
    id="1.2", name="training_flops", make_cases=_flops_cases,
    judge=_flops_judge,
    hint="Each token costs about 2 FLOPs per parameter forward and 4 backward.",
    summary="incl. GPT-3 175B"))


# --------------------------------------------------------------------------- 1.3

def reference_training_days(total_flops: float, n_gpus: int, peak_flops_per_gpu: float,
                            utilization: float) -> float:
    """Wall-clock days = C / (n_gpus · peak · utilization) / 86,400."""
    return total_flops / (n_gpus * peak_flops_per_gpu * utilization) / SECONDS_PER_DAY


def _days_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case("GPT-3 on 1,024 A100s at 40% utilisation", dict(
        total_flops=3.15e23, n_gpus=1024, peak_flops_per_gpu=312e12, utilization=0.4))]
    for _ in range(4):
        cases.append(Case("random cluster", dict(
            total_flops=float(10 ** rng.uniform(18, 25)), n_gpus=int(rng.integers(1, 10_000)),
            peak_flops_per_gpu=float(10 ** rng.uniform(12, 15)),
            utilization=float(rng.uniform(0.1, 0.9)))))
    return cases


def _days_judge(inputs: dict, got) -> None:
    F, n, peak, u = (inputs[k] for k in ("total_flops", "n_gpus", "peak_flops_per_gpu",
                                         "utilization"))
    seconds = reference_training_days(F, n, peak, u) * SECONDS_PER_DAY
    try:
        expect_number(got, seconds / SECONDS_PER_DAY, "training days", rtol=1e-9)
    except Wrong as w:
        g = as_float(got)
        if g is None:
            raise
        if np.isclose(g, seconds):
            w.hint = "That is seconds: divide by 24 · 60 · 60 to get days."
        elif np.isclose(g, seconds / 3600):
            w.hint = "That is hours: divide by 24 more."
        elif np.isclose(g, seconds * u / SECONDS_PER_DAY):
            w.hint = "Utilisation is ignored: the GPUs deliver only utilization × peak FLOP/s."
        elif np.isclose(g, seconds * u * u / SECONDS_PER_DAY):
            w.hint = "Utilisation is upside down: achieved FLOP/s = utilization × peak, so " \
                     "lower utilisation means more days."
        raise


register(Exercise(
    id="1.3", name="training_days", make_cases=_days_cases,
    judge=_days_judge,
    hint="days = total_flops / (n_gpus · peak · utilization) / 86,400."))


# --------------------------------------------------------------------------- 1.4

def _memory_cases(rng: np.random.Generator) -> list[Case]:
    cases = [Case("GPT-3 175B", dict(n_params=175_000_000_000)),
             Case("GPT-2 small", dict(n_params=124_439_808))]
    cases += [Case("random size", dict(n_params=int(rng.integers(1, 10**12)))) for _ in range(3)]
    return cases


# Mixed-precision training with Adam keeps, per parameter (bytes):
MIXED_PRECISION_ADAM_BYTES = dict(fp16_weights=2, fp16_gradients=2, fp32_master_weights=4,
                                  adam_first_moment=4, adam_second_moment=4)


def reference_training_memory_bytes(n_params: int) -> int:
    """Bytes of model state when training with mixed precision and Adam (16 per parameter)."""
    return n_params * sum(MIXED_PRECISION_ADAM_BYTES.values())


def _memory_judge(inputs: dict, got) -> None:
    n = inputs["n_params"]
    ref = reference_training_memory_bytes(n)
    if not isinstance(got, (int, np.integer)) or isinstance(got, bool):
        raise Wrong(f"returned {got!r}, expected a whole number of bytes (an int).")
    if int(got) != ref:
        per = int(got) / n
        hint = {2.0: "2 bytes per parameter is only the fp16 weights: training also keeps "
                     "gradients, an fp32 master copy and Adam's two moments.",
                4.0: "Weights and gradients are not all: add the fp32 master copy and Adam's "
                     "two moments (4 bytes each)."}.get(per)
        raise Wrong(f"{int(got):,} bytes ({per:g} per parameter), expected {ref:,}.", hint)


register(Exercise(
    id="1.4", name="training_memory_bytes", make_cases=_memory_cases,
    judge=_memory_judge,
    hint="Count every copy per parameter: fp16 weights and gradients, fp32 master weights, "
         "Adam's m and v."))
