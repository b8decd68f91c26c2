"""Numerical gradients for gradient checks (defined in chapter 02, used by chapters 03–04)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """∂f/∂x by central differences: (f(x + eps·e_i) − f(x − eps·e_i)) / (2·eps) for each entry i.

    ``f`` may read ``x`` through a closure, so each entry is perturbed in place and restored;
    ``x`` must be a float array. Error O(eps²), against O(eps) for a forward difference.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        original = x[i]
        x[i] = original + eps
        f_plus = float(f(x))
        x[i] = original - eps
        f_minus = float(f(x))
        x[i] = original                                     # restore
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad.astype(x.dtype, copy=False) if x.dtype.kind == "f" else grad
