"""Data-parallel training with ``DistributedDataParallel``, and the one-process run it must match.

Chapter 06 starts this file as a script on two CPU processes::

    torchrun --standalone --nproc_per_node=2 -m course.distributed --data batches.npz --out DIR

Each process (a *rank*) holds a full copy of a small model, takes its own half of every
global batch, and computes gradients on it; DDP then averages the gradients over the ranks
(an all-reduce, here over the ``gloo`` backend) before the optimiser step. Since each rank's
loss is a mean over an equal share of the batch, the averaged gradient is exactly the
gradient of the mean loss over the whole batch:

    (1/R) Σ_r (1/b) Σ_{i in shard r} ∇ℓ_i  =  (1/B) Σ_{i=1..B} ∇ℓ_i ,   B = R·b,

so R processes end with the same weights as :func:`train_single` on the combined batches
(up to the rounding of a different summation order). Every rank writes its final weights to
``DIR/rank<r>.pt``.

With ``--strategy fsdp`` the same launcher trains a small Transformer with *fully sharded*
data parallelism instead (PyTorch's ``fully_shard``, ZeRO stage 3): each rank keeps only
its ``1/R`` slice of every parameter, gradient and AdamW moment, all-gathers a layer's
full weights just before using them and reduce-scatters the gradients. Every rank writes
``DIR/fsdp_rank<r>_<reshard>.json`` with what it held and sent (measured from its tensors
and its collective calls); rank 0 also writes the gathered weights
``DIR/fsdp_<reshard>.pt``, to compare with :func:`train_single_transformer`.

On a GPU cluster the same script runs unchanged with ``backend="nccl"`` and one process per
GPU. ``torchrun`` is then started once on every machine with the same rendezvous arguments
(see :func:`torchrun_command`), e.g. for 4 machines of 8 GPUs::

    torchrun --nnodes=4 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-id=job42 \
        --rdzv-endpoint=node0.example:29500 -m course.distributed ...

Without ``--rdzv-backend``/``--rdzv-id`` each machine would start a job of its own
(``--nnodes=4`` then waits for machines that never join that job).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class DDPConfig:
    steps: int = 5              # optimiser steps
    global_batch: int = 64      # images per step, summed over all ranks
    hidden: int = 32            # width of the hidden layer
    lr: float = 0.1             # SGD learning rate
    momentum: float = 0.9       # SGD momentum
    seed: int = 0               # seed of the initial weights and of the batches


def make_batches(X: np.ndarray, y: np.ndarray, cfg: DDPConfig | FSDPConfig) -> tuple[np.ndarray, np.ndarray]:
    """The global batches of a run: X (N, ...) -> (steps, B, 64) float64, y -> (steps, B) int64.

    Reads ``cfg.steps``, ``cfg.global_batch`` and ``cfg.seed`` (a DDPConfig or an FSDPConfig).
    """
    rng = np.random.default_rng(cfg.seed)
    idx = rng.permutation(len(X))[: cfg.steps * cfg.global_batch]
    xb = np.asarray(X, np.float64).reshape(len(X), -1)[idx]           # (steps·B, 64)
    return (xb.reshape(cfg.steps, cfg.global_batch, -1),
            np.asarray(y, np.int64)[idx].reshape(cfg.steps, cfg.global_batch))


def make_model(cfg: DDPConfig, seed: int):
    """A small float64 MLP 64 -> hidden -> 10 (float64, so the comparison is not blurred)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, cfg.hidden), nn.Tanh(), nn.Linear(cfg.hidden, 10)).double()


def shard(batch: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s equal share of a global batch: (B, ...) -> (B / world_size, ...)."""
    if len(batch) % world_size:
        raise ValueError("the global batch must split evenly over the ranks")
    b = len(batch) // world_size
    return batch[rank * b:(rank + 1) * b]


def train_single(xs: np.ndarray, ys: np.ndarray, cfg: DDPConfig) -> dict:
    """One process on the combined batches xs (steps, B, 64), ys (steps, B) -> state_dict."""
    import torch
    import torch.nn.functional as F

    model = make_model(cfg, cfg.seed)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    for x, y in zip(xs, ys):
        opt.zero_grad()
        F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_ddp(xs: np.ndarray, ys: np.ndarray, cfg: DDPConfig, out: Path) -> None:
    """The body of each process started by torchrun (reads RANK, WORLD_SIZE, MASTER_* from env)."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group(backend="gloo")          # "nccl" on GPUs; nothing else changes
    rank, world = dist.get_rank(), dist.get_world_size()
    # A different seed per rank on purpose: DDP broadcasts rank 0's weights when it wraps
    # the model, so every replica starts from the same point anyway.
    model = DDP(make_model(cfg, cfg.seed + rank))
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    for x, y in zip(xs, ys):
        x_r, y_r = shard(x, rank, world), shard(y, rank, world)     # (B/R, 64), (B/R,)
        opt.zero_grad()
        loss = F.cross_entropy(model(torch.from_numpy(x_r)), torch.from_numpy(y_r))
        loss.backward()                               # all-reduce: gradients averaged over ranks
        opt.step()
    state = {k: v.detach().clone() for k, v in model.module.state_dict().items()}
    torch.save(state, Path(out) / f"rank{rank}.pt")
    dist.destroy_process_group()


def torchrun_command(nnodes: int, nproc_per_node: int, rdzv_endpoint: str, rdzv_id: str,
                     script_args: list[str], python: str | None = None) -> list[str]:
    """The ``torchrun`` command line to start on every machine of a multi-node job.

    ``--rdzv-backend=c10d`` makes the machines meet at ``rdzv_endpoint`` (host:port of one of
    them); ``--rdzv-id`` names the job, so that all of them join the same one and receive
    distinct ranks. With ``python`` (an interpreter) the command is
    ``python -m torch.distributed.run ...``, which is what the ``torchrun`` script runs.
    """
    head = ["torchrun"] if python is None else [python, "-m", "torch.distributed.run"]
    return head + [f"--nnodes={nnodes}", f"--nproc_per_node={nproc_per_node}",
                   "--rdzv-backend=c10d", f"--rdzv-id={rdzv_id}", f"--rdzv-endpoint={rdzv_endpoint}",
                   "-m", "course.distributed", *script_args]


# --------------------------------------------------------------------------- sharding: memory

BYTES_PER_PARAM = {"weights": 2, "gradients": 2, "optimiser": 12}   # chapter 01: 16 in all
STAGES = ("DDP", "ZeRO-1", "ZeRO-2", "ZeRO-3 / FSDP")


def bytes_per_param_per_device(stage: str, n_devices: int) -> float:
    """Bytes of model state per parameter on each of ``n_devices`` (Rajbhandari et al., 2020).

    Mixed-precision Adam keeps 2 (fp16 weights) + 2 (fp16 gradients) + 12 (fp32 master
    weights and the two moments) bytes per parameter. DDP replicates all 16; ZeRO-1 shards
    the optimiser's 12, ZeRO-2 also the gradients, ZeRO-3 (FSDP) also the weights::

        DDP 16,  ZeRO-1 4 + 12/R,  ZeRO-2 2 + 14/R,  ZeRO-3 16/R .
    """
    w, g, o = BYTES_PER_PARAM["weights"], BYTES_PER_PARAM["gradients"], BYTES_PER_PARAM["optimiser"]
    R = n_devices
    return {"DDP": w + g + o, "ZeRO-1": w + g + o / R, "ZeRO-2": w + (g + o) / R,
            "ZeRO-3 / FSDP": (w + g + o) / R}[stage]


def comm_values_per_step(strategy: str, n_params: int, n_devices: int,
                         reshard_after_forward: bool = True) -> float:
    """Values each rank sends per step (ring collectives; receives are the same).

    An all-reduce of Ψ values is a reduce-scatter plus an all-gather, each moving
    (R-1)/R · Ψ per rank. DDP all-reduces the gradients: 2 (R-1)/R · Ψ. FSDP all-gathers
    the weights before the forward pass and again before the backward pass (unless it
    kept them, ``reshard_after_forward=False``) and reduce-scatters the gradients:
    3 (R-1)/R · Ψ, or 2 (R-1)/R · Ψ when it keeps the weights.
    """
    share = (n_devices - 1) / n_devices * n_params
    if strategy == "DDP":
        return 2 * share
    if strategy == "FSDP":
        return (3 if reshard_after_forward else 2) * share
    raise ValueError(strategy)


# --------------------------------------------------------------------------- FSDP on a Transformer

@dataclass
class FSDPConfig:
    steps: int = 5              # optimiser steps
    global_batch: int = 32      # images per step, summed over all ranks
    d_model: int = 32           # width of the Transformer
    n_heads: int = 4            # attention heads
    n_layers: int = 2           # Transformer blocks (each one FSDP unit)
    lr: float = 1e-2            # AdamW learning rate
    weight_decay: float = 0.01  # AdamW's decoupled weight decay
    seed: int = 0               # seed of the initial weights and of the batches


def make_transformer(cfg: FSDPConfig, seed: int):
    """A pre-LayerNorm Transformer that reads a digit as 8 tokens (its rows of 8 pixels).

    (N, 64) -> rows (N, 8, 8) -> Linear(8, d) + position table (8, d) -> n_layers blocks
    -> LayerNorm -> mean over the 8 tokens (N, d) -> Linear(d, 10) logits. float32, no dropout.

    The blocks have no biases and use GELU. Both keep the comparison with one process sharp:
    a key bias gets a gradient that is zero in exact arithmetic (softmax ignores a constant
    added to all of a query's scores), and a ReLU unit sitting at 0 switches on or off with
    the rounding of a sum; Adam divides by the gradient's own size and so turns such
    rounding noise into full-size steps (measured: 1e-3 and 3e-4 apart after 5 steps).
    """
    import torch
    from torch import nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            d = cfg.d_model
            self.embed = nn.Linear(8, d)
            self.pos = nn.Parameter(0.02 * torch.randn(8, d))
            self.blocks = nn.ModuleList(
                nn.TransformerEncoderLayer(d, cfg.n_heads, dim_feedforward=4 * d, dropout=0.0,
                                           activation="gelu", bias=False, batch_first=True,
                                           norm_first=True)
                for _ in range(cfg.n_layers))
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, 10)

        def forward(self, x):
            h = self.embed(x.reshape(len(x), 8, 8)) + self.pos       # (N, 8, 8) -> (N, 8, d)
            for block in self.blocks:
                h = block(h)                                        # (N, 8, d)
            return self.head(self.ln_f(h).mean(dim=1))              # (N, d) -> (N, 10)

    torch.manual_seed(seed)
    return Model()


def _adamw(params, cfg: FSDPConfig):
    import torch
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def train_single_transformer(xs: np.ndarray, ys: np.ndarray, cfg: FSDPConfig):
    """One process, AdamW, on the combined batches -> (state_dict, optimiser-state bytes)."""
    import torch
    import torch.nn.functional as F

    model = make_transformer(cfg, cfg.seed)
    opt = _adamw(model.parameters(), cfg)
    for x, y in zip(xs, ys):
        opt.zero_grad()
        F.cross_entropy(model(torch.from_numpy(x).float()), torch.from_numpy(y)).backward()
        opt.step()
    state_bytes = sum(_nbytes(v) for s in opt.state.values() for v in s.values())
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, state_bytes


def _local(t):
    """The part of ``t`` this process holds: a DTensor's local shard, or the tensor itself."""
    return t.to_local() if hasattr(t, "to_local") else t


def _nbytes(t) -> int:
    import torch
    if not isinstance(t, torch.Tensor):
        return 0
    t = _local(t)
    return t.numel() * t.element_size()


@contextlib.contextmanager
def count_collectives():
    """Count the all-gathers and reduce-scatters this process starts, and their full sizes in bytes.

    Wraps ``torch.distributed``'s collective functions (FSDP calls them through the module)
    for the duration of the block; yields a dict that fills as calls happen.
    """
    import torch.distributed as dist

    counts = {"all_gather": 0, "all_gather_bytes": 0, "reduce_scatter": 0, "reduce_scatter_bytes": 0}
    names = {"all_gather_single": ("all_gather", 0), "all_gather_into_tensor": ("all_gather", 0),
             "reduce_scatter_single": ("reduce_scatter", 1), "reduce_scatter_tensor": ("reduce_scatter", 1)}
    originals = {}
    for name, (kind, full_arg) in names.items():
        if not hasattr(dist, name):
            continue
        original = originals[name] = getattr(dist, name)

        def wrapper(*args, __orig=original, __kind=kind, __arg=full_arg, __name=name, **kwargs):
            key = ("output_tensor", "input_tensor") if "gather" in __name else ("output", "input")
            full = args[__arg] if len(args) > __arg else kwargs.get(key[__arg])
            counts[__kind] += 1
            counts[__kind + "_bytes"] += _nbytes(full)      # the whole (gathered / reduced) buffer
            return __orig(*args, **kwargs)

        setattr(dist, name, wrapper)
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(dist, name, original)


def train_fsdp(xs: np.ndarray, ys: np.ndarray, cfg: FSDPConfig, out: Path,
               reshard_after_forward: bool = True) -> dict:
    """The body of each rank for ``--strategy fsdp`` (process group already initialised).

    Shards every Transformer block and then the whole model with ``fully_shard``, trains
    with AdamW on this rank's share of each global batch, and returns what it measured:
    parameters and bytes held (weights, AdamW state), parameter values materialised
    between forward and backward, and the collectives of the last step.
    """
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.distributed.fsdp import fully_shard

    rank, world = dist.get_rank(), dist.get_world_size()
    model = make_transformer(cfg, cfg.seed)            # same start on every rank
    for block in model.blocks:
        fully_shard(block, reshard_after_forward=reshard_after_forward)    # one unit per block
    fully_shard(model, reshard_after_forward=reshard_after_forward)        # the rest: embed, head, ...
    opt = _adamw(model.parameters(), cfg)
    held_between = []
    for x, y in zip(xs, ys):
        x_r, y_r = shard(x, rank, world), shard(y, rank, world)          # (B/R, 64), (B/R,)
        opt.zero_grad()
        with count_collectives() as comm:
            loss = F.cross_entropy(model(torch.from_numpy(x_r).float()), torch.from_numpy(y_r))
            # between forward and backward: values of the weights this rank holds right now
            held_between.append(sum(_local(p).numel() for p in model.parameters()))
            loss.backward()                               # reduce-scatter: each rank gets its slice
        opt.step()
    params_held = sum(_local(p).numel() for p in model.parameters())
    stats = {
        "rank": rank, "world_size": world, "reshard_after_forward": reshard_after_forward,
        "params_held": params_held,
        "param_bytes": sum(_nbytes(p) for p in model.parameters()),
        "moment_bytes": sum(_nbytes(v) for s in opt.state.values() for k, v in s.items() if k != "step"),
        "step_bytes": sum(_nbytes(s["step"]) for s in opt.state.values()),
        "held_between_forward_and_backward": held_between[-1],
        "last_step_collectives": comm,
        "config": asdict(cfg),
    }
    full = {k: v.full_tensor() if hasattr(v, "full_tensor") else v
            for k, v in model.state_dict().items()}       # an all-gather on every rank
    tag = "reshard" if reshard_after_forward else "keep"
    if rank == 0:
        torch.save({k: v.detach().clone() for k, v in full.items()}, Path(out) / f"fsdp_{tag}.pt")
    (Path(out) / f"fsdp_rank{rank}_{tag}.json").write_text(json.dumps(stats, indent=1))
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help=".npz with xs (steps, B, 64), ys (steps, B)")
    parser.add_argument("--out", required=True, help="folder for the ranks' results")
    parser.add_argument("--strategy", choices=("ddp", "fsdp"), default="ddp")
    parser.add_argument("--reshard-after-forward", nargs="+", choices=("true", "false"),
                        default=["true"], help="fsdp: run once for each value given")
    parser.add_argument("--hidden", type=int, default=DDPConfig.hidden)
    parser.add_argument("--lr", type=float, default=None, help="default: the strategy's config")
    parser.add_argument("--momentum", type=float, default=DDPConfig.momentum)
    parser.add_argument("--seed", type=int, default=DDPConfig.seed)
    args = parser.parse_args(argv)
    with np.load(args.data) as f:
        xs, ys = f["xs"], f["ys"]
    if "RANK" not in os.environ:
        raise SystemExit("start this with torchrun, e.g. torchrun --standalone "
                         "--nproc_per_node=2 -m course.distributed --data D --out DIR")
    if args.strategy == "ddp":
        cfg = DDPConfig(steps=len(xs), global_batch=xs.shape[1], hidden=args.hidden,
                        lr=DDPConfig.lr if args.lr is None else args.lr, momentum=args.momentum,
                        seed=args.seed)
        train_ddp(xs, ys, cfg, Path(args.out))
        return
    import torch.distributed as dist

    cfg = FSDPConfig(steps=len(xs), global_batch=xs.shape[1], seed=args.seed,
                     lr=FSDPConfig.lr if args.lr is None else args.lr)
    dist.init_process_group(backend="gloo")          # "nccl" on GPUs
    try:
        for value in args.reshard_after_forward:
            train_fsdp(xs, ys, cfg, Path(args.out), reshard_after_forward=value == "true")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
