"""Canvases of handwritten digits, for object detection and semantic segmentation (chapter 10).

Each canvas is a ``size × size`` image with 1 to 3 of the course's 8×8 digits
(:func:`course.data.digits`) pasted at random positions, each at scale 1 or 2 (8 or 16
pixels), without overlapping. It comes with

- **boxes** ``(x1, y1, x2, y2)`` in pixel units (corners of the pixel grid, so a digit whose
  ink covers columns 3..9 has ``x1 = 3, x2 = 10``): the tight box around the digit's ink;
- **labels**: the digit of each box (0..9);
- a **mask** ``(size, size)`` of per-pixel classes: 0 for background, ``1 + digit`` where
  the digit's ink is at least :data:`INK` (so 11 classes).

Training canvases use the course's training digits, test canvases its test digits, so no
digit image appears in both. Everything is fixed by the seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from course.data import digits

INK = 0.25             # a pixel belongs to a digit when its value is at least this
N_CLASSES = 11         # background + the digits 0..9


@dataclass(frozen=True)
class Canvases:
    """images (N, 1, S, S) float32 in [0, 1]; masks (N, S, S) int64; boxes and labels per canvas."""
    images: np.ndarray
    masks: np.ndarray
    boxes: list[np.ndarray]      # N arrays of shape (K_i, 4), float64, (x1, y1, x2, y2)
    labels: list[np.ndarray]     # N arrays of shape (K_i,), int64

    def __len__(self) -> int:
        return len(self.images)


def _ink_box(img: np.ndarray) -> tuple[int, int, int, int]:
    """(x1, y1, x2, y2) of the pixels of ``img`` with ink, as pixel-grid corners."""
    rows = np.flatnonzero((img >= INK).any(axis=1))
    cols = np.flatnonzero((img >= INK).any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def make_canvases(n: int, split: str = "train", size: int = 32, max_digits: int = 3,
                  seed: int = 0) -> Canvases:
    """``n`` canvases of ``size × size`` pixels built from the ``split`` digits ("train" or "test")."""
    data = digits()
    X, y = (data.X_train, data.y_train) if split == "train" else (data.X_test, data.y_test)
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 1, size, size), np.float32)
    masks = np.zeros((n, size, size), np.int64)
    all_boxes, all_labels = [], []
    for i in range(n):
        taken = np.zeros((size, size), bool)
        boxes, labels = [], []
        for _ in range(rng.integers(1, max_digits + 1)):
            k = rng.integers(len(X))
            scale = int(rng.integers(1, 3))
            img = np.kron(X[k], np.ones((scale, scale), np.float32))      # (8s, 8s)
            s = img.shape[0]
            for _attempt in range(20):                                     # find free space
                top, left = rng.integers(0, size - s + 1, size=2)
                if not taken[top:top + s, left:left + s].any():
                    break
            else:
                continue                                                  # no room: skip it
            taken[top:top + s, left:left + s] = True
            images[i, 0, top:top + s, left:left + s] = img
            ink = img >= INK
            masks[i, top:top + s, left:left + s][ink] = 1 + y[k]
            x1, y1, x2, y2 = _ink_box(img)
            boxes.append([left + x1, top + y1, left + x2, top + y2])
            labels.append(int(y[k]))
        all_boxes.append(np.array(boxes, np.float64).reshape(-1, 4))
        all_labels.append(np.array(labels, np.int64))
    return Canvases(images, masks, all_boxes, all_labels)
