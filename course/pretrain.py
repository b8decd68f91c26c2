"""Pre-train chapter 07's GPT on the Python corpus, and run its scaling sweep.

    python -m course.pretrain                # -> data/gpt_python.npz (+ .json), ≈ 8 min of CPU
    python -m course.pretrain sweep          # -> data/scaling_sweep.json, ≈ 2 min of CPU
    python -m course.pretrain --steps 5 --out /tmp/x.npz     # a quick run (the tests do this)

Both run on one CPU thread with fixed seeds (model: ``torch.manual_seed(seed)``; windows:
a ``torch.Generator`` seeded the same), so a run on the same Python, PyTorch and CPU repeats
its figures. The corpus is :func:`course.data.python_corpus` (its validation text is the last
10%); losses are :func:`course.language_model.nats_per_char` on that validation text.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = ROOT / "data" / "gpt_python.npz"
SWEEP = ROOT / "data" / "scaling_sweep.json"

# How the checkpoint's validation loss is measured: the full validation text, and a fixed
# subset of windows that is quick enough for the notebook (both are recorded).
EVAL_CONTEXT, EVAL_WARMUP = 256, 128
QUICK_CONTEXT, QUICK_WARMUP, QUICK_WINDOWS = 128, 64, 256


@dataclass
class SweepConfig:
    sizes: tuple = ((1, 16, 2), (1, 32, 2), (2, 32, 2), (2, 48, 4), (3, 64, 4), (3, 96, 4))  # (n_layers, d_model, n_heads)
    n_ctx: int = 64             # context of every model in the sweep
    steps: int = 800            # the same for every size...
    batch_size: int = 16        # ... so each sees 800 · 16 · 64 = 819,200 characters
    lr: float = 3e-3
    warmup: int = 40
    seed: int = 0


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def corpus_ids():
    from course.data import python_corpus
    from course.language_model import as_ids

    corpus = python_corpus()
    return corpus, as_ids(corpus.encode(corpus.train)), as_ids(corpus.encode(corpus.val))


def quick_val_loss(model, val_ids) -> float:
    """Validation loss on the fixed subset of windows the notebook re-measures."""
    from course.language_model import nats_per_char

    return nats_per_char(model, val_ids, QUICK_CONTEXT, QUICK_WARMUP, max_windows=QUICK_WINDOWS)


def pretrain(steps: int, out: Path, seed: int = 0, lr: float = 6e-3, full_eval: bool = True) -> dict:
    """Train the chapter's GPT, save it to ``out`` and record its losses beside it (.json).

    ``full_eval=False`` skips the loss on the whole validation text (the tests' quick run).
    """
    import torch

    from course.gpt import GPT, GPTConfig, TrainConfig, load_checkpoint, save_checkpoint, train
    from course.language_model import nats_per_char

    torch.set_num_threads(1)
    corpus, train_ids, val_ids = corpus_ids()
    cfg = GPTConfig(vocab_size=corpus.vocab_size)
    tcfg = TrainConfig(steps=steps, lr=lr, warmup=max(1, steps // 20), seed=seed)
    torch.manual_seed(seed)
    model = GPT(cfg.vocab_size, cfg.n_ctx, cfg.d_model, cfg.n_layers, cfg.n_heads)
    start = time.process_time()
    losses = train(model, train_ids, tcfg, desc="pre-training")
    cpu_seconds = time.process_time() - start
    save_checkpoint(model, cfg, out)
    loaded, _ = load_checkpoint(out)                 # the float16 weights, as users load them
    record = {
        "command": f"python -m course.pretrain --steps {steps} --lr {lr:g} --seed {seed}",
        "train": asdict(tcfg),
        "cpu_seconds": round(cpu_seconds, 1),
        "final_train_loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
        "val_loss": nats_per_char(loaded, val_ids, EVAL_CONTEXT, EVAL_WARMUP) if full_eval else None,
        "val_loss_quick": quick_val_loss(loaded, val_ids),
        "eval": {"context": EVAL_CONTEXT, "warmup": EVAL_WARMUP, "quick_context": QUICK_CONTEXT,
                 "quick_warmup": QUICK_WARMUP, "quick_windows": QUICK_WINDOWS},
        "python": sys.version.split()[0], "torch": torch.__version__,
        "losses_every_10": [round(x, 4) for x in losses[::10]],
    }
    save_checkpoint(model, cfg, out, extra=record)
    return record | {"sha256": sha256(out)}


def sweep_one(n_layers: int, d_model: int, n_heads: int, cfg: SweepConfig, train_ids, val_ids,
              vocab_size: int) -> dict:
    """Train one size of the sweep; its non-embedding parameters and validation loss."""
    import torch

    from course.gpt import GPT, TrainConfig, non_embedding_params, train
    from course.language_model import nats_per_char

    torch.manual_seed(cfg.seed)
    model = GPT(vocab_size, cfg.n_ctx, d_model, n_layers, n_heads)
    tcfg = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, context=cfg.n_ctx, lr=cfg.lr,
                       warmup=cfg.warmup, seed=cfg.seed)
    start = time.process_time()
    train(model, train_ids, tcfg, desc=f"L={n_layers} d={d_model}")
    return {"n_layers": n_layers, "d_model": d_model, "n_heads": n_heads,
            "non_embedding_params": non_embedding_params(model),
            "tokens": cfg.steps * cfg.batch_size * cfg.n_ctx,
            "val_loss": nats_per_char(model, val_ids, cfg.n_ctx, cfg.n_ctx // 2),
            "cpu_seconds": round(time.process_time() - start, 1)}


def sweep(out: Path, cfg: SweepConfig | None = None) -> dict:
    import torch

    torch.set_num_threads(1)
    cfg = cfg or SweepConfig()
    corpus, train_ids, val_ids = corpus_ids()
    runs = [sweep_one(*size, cfg, train_ids, val_ids, corpus.vocab_size) for size in cfg.sizes]
    record = {"command": "python -m course.pretrain sweep", "config": asdict(cfg), "runs": runs,
              "python": sys.version.split()[0], "torch": torch.__version__}
    Path(out).write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.pretrain", description=__doc__.split("\n")[0])
    parser.add_argument("what", nargs="?", choices=["gpt", "sweep"], default="gpt")
    parser.add_argument("--steps", type=int, default=3000, help="optimiser steps (gpt)")
    parser.add_argument("--lr", type=float, default=6e-3, help="peak learning rate (gpt)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.what == "sweep":
        record = sweep(args.out or SWEEP)
        for run in record["runs"]:
            print(f"L={run['n_layers']} d={run['d_model']:3d}: N={run['non_embedding_params']:8,d} "
                  f"val {run['val_loss']:.4f} ({run['cpu_seconds']} s)")
        return 0
    record = pretrain(args.steps, args.out or CHECKPOINT, args.seed, args.lr)
    print(f"{record['command']}: {record['cpu_seconds']} s of CPU, validation {record['val_loss']:.4f} "
          f"nats/char (quick subset {record['val_loss_quick']:.4f}), sha256 {record['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
