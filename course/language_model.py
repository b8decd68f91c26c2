"""Character-level language modelling: batches of windows, and loss in nats per character.

Used by chapter 04 (an LSTM) and chapter 05 (a small GPT) on
:func:`course.data.python_corpus`, so that both report the same figure.

**The model contract.** A character language model is a ``torch.nn.Module`` with

- ``chars``: str, its vocabulary (id ``i`` is the character ``chars[i]``);
- ``forward(ids)``: ids (N, T) int64 -> logits (N, T, V), where ``logits[:, t]`` scores
  the character that follows ``ids[:, t]``, having seen ``ids[:, :t+1]`` only.

A model with a limited context (a GPT with ``n_ctx`` positions) crops its input to the
last ``n_ctx`` ids itself. Chapter 04's ``sample(model, prompt, n_chars, ...)`` generates
text from any such model.
"""
from __future__ import annotations

import numpy as np


def as_ids(ids):
    """A 1-D int64 tensor of ids from a NumPy array or tensor (e.g. ``corpus.encode(text)``)."""
    import torch

    return torch.as_tensor(np.asarray(ids), dtype=torch.long)


def random_windows(ids, batch_size: int, context: int, generator=None):
    """A training batch: ``batch_size`` windows of ``context`` characters at random offsets.

    ids (L,) int64 -> (x, y), both (batch_size, context): y is x shifted by one character,
    ``y[b, t] = ids[s_b + t + 1]``, the target after reading ``x[b, :t+1]``.
    """
    import torch

    starts = torch.randint(0, len(ids) - context, (batch_size,), generator=generator)  # (B,)
    index = starts[:, None] + torch.arange(context)                                    # (B, T)
    return ids[index], ids[index + 1]


def evaluation_windows(ids, context: int = 128, warmup: int = 64, max_windows: int | None = None):
    """Fixed windows that score every character of ``ids`` (after the first ``warmup``) once.

    Window k covers ``ids[k*S : k*S + context + 1]`` with stride ``S = context - warmup``;
    only its last S targets are scored, so each scored character sees at least ``warmup``
    characters before it. ``max_windows`` keeps that many windows, evenly spaced (the
    same ones every time), for a quick estimate during training.

    Returns x, y (K, context) int64 and the number of scored positions per window, S.
    """
    import torch

    stride = context - warmup
    starts = torch.arange(0, len(ids) - context, stride)                               # (K,)
    if max_windows is not None and max_windows < len(starts):
        starts = starts[torch.from_numpy(np.linspace(0, len(starts) - 1, max_windows).round()
                                         .astype(np.int64))]
    index = starts[:, None] + torch.arange(context)                                    # (K, T)
    return ids[index], ids[index + 1], stride


def nats_per_char(model, ids, context: int = 128, warmup: int = 64,
                  max_windows: int | None = None, batch_size: int = 256) -> float:
    """Mean cross-entropy (nats per character) of ``model`` on ``ids``.

    The windows and scored positions are those of :func:`evaluation_windows`.

    Averages ``-log p(next char)`` over the scored positions, with the model in eval mode
    and no gradients; restores the model's training mode afterwards.
    """
    import torch
    import torch.nn.functional as F

    x, y, scored = evaluation_windows(ids, context, warmup, max_windows)
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(x[i:i + batch_size])[:, -scored:]                # (B, S, V)
            targets = y[i:i + batch_size, -scored:]                           # (B, S)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                     reduction="sum").item()
            count += targets.numel()
    model.train(was_training)
    return total / count


def bigram_nats_per_char(train_ids, val_ids, vocab_size: int) -> float:
    """Validation loss of the bigram counting model of chapter 04 (add-one smoothing).

    p(next | previous) = (count(previous, next) + 1) / (count(previous) + V), counted on
    ``train_ids``; returns the mean −log p over consecutive pairs of ``val_ids``.
    """
    tr, va = np.asarray(train_ids), np.asarray(val_ids)
    counts = np.ones((vocab_size, vocab_size))                 # [previous, next]
    np.add.at(counts, (tr[:-1], tr[1:]), 1.0)
    p = counts / counts.sum(axis=1, keepdims=True)
    return float(-np.log(p[va[:-1], va[1:]]).mean())
