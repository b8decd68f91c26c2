"""A GPT built from the parts of chapter 07, its training loop, and a checkpoint format.

These are the course's references for exercises 7.2 (``TransformerBlock``), 7.3 (``GPT``)
and 7.5 (``LoRALinear``), with the submodule names of COURSE.md §9, and what the
pre-training script :mod:`course.pretrain` and chapter 07 train with:

- :func:`train` — AdamW, linear warm-up then cosine decay (chapter 06's ``cosine_lr``),
  gradient clipping, on random windows of a character corpus;
- :func:`save_checkpoint` / :func:`load_checkpoint` — the weights as float16 arrays in an
  ``.npz`` file (no pickle), with the model's shape stored beside them.

Attention is written with tensor operations (no fused kernel), as the exercise asks.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class GPTConfig:
    vocab_size: int = 96        # characters of the Python corpus (course.data.python_corpus)
    n_ctx: int = 256            # positions, hence the longest context
    d_model: int = 96           # width of the residual stream
    n_layers: int = 3           # blocks
    n_heads: int = 4            # d_head = d_model / n_heads


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: x + proj(causal attention(ln_1 x)), then x + fc_out(GELU(fc(ln_2 x)))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None):
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be a multiple of n_heads"
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.n_heads = n_heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)        # [q | k | v] along the last axis
        self.proj = nn.Linear(d_model, d_model)
        self.fc = nn.Linear(d_model, d_ff)
        self.fc_out = nn.Linear(d_ff, d_model)
        self.gelu = nn.GELU()                             # exact (erf) GELU

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """Causal multi-head self-attention of x (N, T, d_model), before ``proj``."""
        N, T, d = x.shape
        h, d_head = self.n_heads, d // self.n_heads
        q, k, v = self.qkv(x).split(d, dim=-1)                               # 3 x (N, T, d)
        q, k, v = (t.view(N, T, h, d_head).transpose(1, 2) for t in (q, k, v))   # (N, h, T, d_head)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d_head)                  # (N, h, T, T)
        allowed = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v                               # (N, h, T, d_head)
        return out.transpose(1, 2).reshape(N, T, d)                           # (N, T, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.proj(self.attention(self.ln_1(x)))
        return x + self.fc_out(self.gelu(self.fc(self.ln_2(x))))


class GPT(nn.Module):
    """Token + learned position embeddings -> blocks -> ln_f -> head tied to tok_emb.

    ``forward(idx)``: (N, T) int64 with T <= n_ctx -> logits (N, T, vocab_size).
    """

    def __init__(self, vocab_size: int, n_ctx: int, d_model: int, n_layers: int, n_heads: int):
        super().__init__()
        self.n_ctx = n_ctx
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Embedding(n_ctx, d_model)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight                # tied: one matrix, used twice
        self.apply(init_weights)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        idx = idx[:, -self.n_ctx:]                            # at most n_ctx positions
        T = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(T, device=idx.device))   # (N, T, d)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))                        # (N, T, V)


def init_weights(module: nn.Module) -> None:
    """GPT-2's initialisation: normal(0, 0.02) weights, zero biases, LayerNorm (1, 0)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)


class LoRALinear(nn.Module):
    """base(x) + (alpha / r) · x Aᵀ Bᵀ with ``base`` frozen, A (r, in) random, B (out, r) zero."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base, self.r, self.alpha = base, r, alpha
        self.base.requires_grad_(False)
        self.A = nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.alpha / self.r) * (x @ self.A.T @ self.B.T)   # (..., out)

    def merge(self) -> nn.Linear:
        """A new nn.Linear with weight W + (alpha / r) B A and the same bias; base unchanged."""
        merged = nn.Linear(self.base.in_features, self.base.out_features,
                           bias=self.base.bias is not None)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + (self.alpha / self.r) * self.B @ self.A)
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged.to(self.base.weight.device, self.base.weight.dtype)


def non_embedding_params(model: nn.Module) -> int:
    """Parameters outside the token and position embeddings (Kaplan et al.'s N)."""
    skip = {id(model.tok_emb.weight), id(model.pos_emb.weight)}
    return sum(p.numel() for p in model.parameters() if id(p) not in skip)


# --------------------------------------------------------------------------- training

@dataclass
class TrainConfig:
    steps: int = 1000           # optimiser steps
    batch_size: int = 8         # windows per step
    context: int = 256          # characters per window
    lr: float = 3e-3            # peak learning rate
    warmup: int = 50            # steps of linear warm-up, then cosine decay to 0
    weight_decay: float = 0.01  # AdamW's decoupled decay
    clip: float = 1.0           # largest gradient norm
    seed: int = 0               # draws the windows


def train(model: nn.Module, ids: torch.Tensor, cfg: TrainConfig, params=None,
          desc: str = "training") -> list[float]:
    """Train ``model`` on random windows of ``ids`` (L,) int64; return the loss of every step.

    Only ``params`` (default: those that require a gradient) are optimised.
    """
    from course.exercises.training import reference_cosine_lr
    from course.language_model import random_windows
    from course.progress import progress

    params = [p for p in model.parameters() if p.requires_grad] if params is None else list(params)
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    device = next(model.parameters()).device
    losses = []
    model.train()
    for step in progress(range(cfg.steps), desc=desc):
        for group in optimizer.param_groups:
            group["lr"] = reference_cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup)
        x, y = random_windows(ids, cfg.batch_size, cfg.context, generator)    # (B, T) each
        logits = model(x.to(device))                                           # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten().to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.clip)
        optimizer.step()
        losses.append(loss.item())
    return losses


# --------------------------------------------------------------------------- checkpoints

def save_checkpoint(model: nn.Module, cfg: GPTConfig, path: Path, extra: dict | None = None) -> None:
    """The distinct parameters as float16 arrays in ``path`` (.npz); config and ``extra`` in .json."""
    skip = {id(model.tok_emb.weight)}
    arrays = {"tok_emb.weight": model.tok_emb.weight.detach().cpu().half().numpy()}
    for name, p in model.named_parameters():
        if id(p) not in skip:
            arrays[name] = p.detach().cpu().half().numpy()
    path = Path(path)
    with path.open("wb") as f:
        np.savez(f, **arrays)
    meta = {"config": asdict(cfg)} | (extra or {})
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")


def load_state(model: nn.Module, path: Path) -> nn.Module:
    """Load ``path`` (.npz from :func:`save_checkpoint`) into a GPT with the contract's names.

    The head may have any name, as long as it is tied to ``tok_emb.weight``.
    """
    with np.load(Path(path), allow_pickle=False) as f:
        state = {k: torch.from_numpy(f[k].astype(np.float32)) for k in f.files}
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = [k for k in missing if model.get_parameter(k) is model.tok_emb.weight]
    if unexpected or set(missing) - set(tied):
        raise ValueError(f"checkpoint does not fit: missing {sorted(set(missing) - set(tied))}, "
                         f"unexpected {unexpected}")
    return model


def load_checkpoint(path: Path, model_class=GPT) -> tuple[nn.Module, dict]:
    """(model, metadata) from ``path``; ``model_class(vocab_size, n_ctx, d_model, n_layers, n_heads)``."""
    meta = json.loads(Path(path).with_suffix(".json").read_text())
    cfg = GPTConfig(**meta["config"])
    torch.manual_seed(0)
    model = model_class(cfg.vocab_size, cfg.n_ctx, cfg.d_model, cfg.n_layers, cfg.n_heads)
    return load_state(model, path), meta
