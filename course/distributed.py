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

On a GPU cluster the same script runs unchanged with ``backend="nccl"`` and one process per
GPU, started by ``torchrun --nnodes=N --nproc_per_node=G ...`` on every machine.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
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


def make_batches(X: np.ndarray, y: np.ndarray, cfg: DDPConfig) -> tuple[np.ndarray, np.ndarray]:
    """The global batches of a run: X (N, ...) -> (steps, B, 64) float64, y -> (steps, B) int64."""
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help=".npz with xs (steps, B, 64), ys (steps, B)")
    parser.add_argument("--out", required=True, help="folder for rank<r>.pt")
    parser.add_argument("--hidden", type=int, default=DDPConfig.hidden)
    parser.add_argument("--lr", type=float, default=DDPConfig.lr)
    parser.add_argument("--momentum", type=float, default=DDPConfig.momentum)
    parser.add_argument("--seed", type=int, default=DDPConfig.seed)
    args = parser.parse_args(argv)
    with np.load(args.data) as f:
        xs, ys = f["xs"], f["ys"]
    cfg = DDPConfig(steps=len(xs), global_batch=xs.shape[1], hidden=args.hidden, lr=args.lr,
                    momentum=args.momentum, seed=args.seed)
    if "RANK" not in os.environ:
        raise SystemExit("start this with torchrun, e.g. torchrun --standalone "
                         "--nproc_per_node=2 -m course.distributed --data D --out DIR")
    train_ddp(xs, ys, cfg, Path(args.out))


if __name__ == "__main__":
    main()
