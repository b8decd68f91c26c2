"""Chapter 03 — convolution: the loop formula, im2col, max pooling and the backward pass.

The reference functions here stand in (through ``yours_or``) for a learner's unfinished
exercise in the notebook. The checks never trust them: each ``judge`` asks PyTorch
(``F.conv2d``, ``F.max_pool2d``, autograd) or a numerical gradient for the right answer.

Shapes: x (N, C, H, W), w (C_out, C, KH, KW), b (C_out,), y (N, C_out, H', W') with
H' = (H + 2·padding − KH) // stride + 1 and W' likewise.
"""
from __future__ import annotations

import time

import numpy as np

from course.exercise import (Case, Exercise, Wrong, describe, expect_array, mistake_hint,
                             register)

# Framework ops that do the exercise's work. "torch" as a whole is forbidden statically;
# the dotted names are also recorded at run time if they are called.
_FRAMEWORK_OPS = (
    "torch", "torch.nn.functional.conv2d", "torch.conv2d", "torch.nn.functional.max_pool2d",
    "torch.max_pool2d", "torch.nn.functional.unfold", "torch.nn.Conv2d", "torch.nn.MaxPool2d",
    "numpy.convolve", "numpy.correlate", "scipy.signal.correlate2d", "scipy.signal.convolve2d",
    "scipy.signal.correlate", "scipy.signal.convolve", "scipy.signal.fftconvolve",
    "scipy.ndimage.correlate", "scipy.ndimage.convolve", "scipy.ndimage.maximum_filter",
)
_AUTOGRAD = ("torch.autograd.grad", "torch.autograd.backward")


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """H' = ⌊(H + 2·padding − KH) / stride⌋ + 1 (windows that do not fit are dropped)."""
    return (size + 2 * padding - kernel) // stride + 1


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    """Zeros on all four sides of the last two axes: (N, C, H, W) -> (N, C, H+2p, W+2p)."""
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


# --------------------------------------------------------------------------- references

def reference_conv2d_naive(x, w, b=None, stride=1, padding=0):
    """y[n,f,i,j] = b[f] + Σ_c Σ_m Σ_n x_pad[n, c, i·stride + m, j·stride + n] · w[f, c, m, n].

    Loops over every output entry; each entry is one window times the kernel, summed.
    This is the course's "loop version" that exercise 3.2 must beat by 20×.
    """
    N, C, H, W = x.shape
    C_out, _, KH, KW = w.shape
    H_out, W_out = output_size(H, KH, stride, padding), output_size(W, KW, stride, padding)
    xp = _pad(x, padding)                                        # (N, C, H+2p, W+2p)
    y = np.zeros((N, C_out, H_out, W_out), dtype=np.result_type(x, w))
    for n in range(N):
        for f in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    r, c = i * stride, j * stride
                    window = xp[n, :, r:r + KH, c:c + KW]          # (C, KH, KW)
                    y[n, f, i, j] = np.sum(window * w[f])
            if b is not None:
                y[n, f] += b[f]
    return y


def _windows(x, KH, KW, stride, padding):
    """All KH×KW windows of the padded input: (N, C, H', W', KH, KW), a view (no copy)."""
    xp = _pad(x, padding)
    win = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))
    return win[:, :, ::stride, ::stride]


def reference_conv2d_im2col(x, w, b=None, stride=1, padding=0):
    """The same convolution as one matrix product: (N·H'·W', C·KH·KW) @ (C·KH·KW, C_out)."""
    N, C, H, W = x.shape
    C_out, _, KH, KW = w.shape
    win = _windows(x, KH, KW, stride, padding)                   # (N, C, H', W', KH, KW)
    H_out, W_out = win.shape[2:4]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(N * H_out * W_out, C * KH * KW)
    y = cols @ w.reshape(C_out, C * KH * KW).T                       # (N·H'·W', C_out)
    if b is not None:
        y = y + b
    return y.reshape(N, H_out, W_out, C_out).transpose(0, 3, 1, 2).copy()   # (N, C_out, H', W')


def reference_max_pool2d(x, kernel_size, stride=None):
    """y[n,c,i,j] = max over the kernel_size² window starting at (i·stride, j·stride)."""
    stride = kernel_size if stride is None else stride
    win = _windows(x, kernel_size, kernel_size, stride, 0)       # (N, C, H', W', k, k)
    return win.max(axis=(4, 5))


def reference_conv2d_backward(dout, x, w, stride=1, padding=0):
    """Gradients of L = Σ dout · conv2d(x, w, b): returns (dx, dw, db).

    db[f] = Σ_{n,i,j} dout[n,f,i,j]
    dw[f,c,m,n] = Σ_{n,i,j} dout[n,f,i,j] · x_pad[n, c, i·s + m, j·s + n]
    dx_pad[n, c, i·s + m, j·s + n] += Σ_f dout[n,f,i,j] · w[f,c,m,n], then the padding is cut off.
    """
    N, C, H, W = x.shape
    C_out, _, KH, KW = w.shape
    win = _windows(x, KH, KW, stride, padding)                   # (N, C, H', W', KH, KW)
    H_out, W_out = win.shape[2:4]
    db = dout.sum(axis=(0, 2, 3))                                # (C_out,)
    dw = np.einsum("nfij,ncijkl->fckl", dout, win)               # (C_out, C, KH, KW)
    dx_pad = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=np.result_type(dout, w))
    dwin = np.einsum("nfij,fckl->ncijkl", dout, w)               # (N, C, H', W', KH, KW)
    for m in range(KH):                                          # scatter back, one kernel
        for n in range(KW):                                      # offset at a time
            dx_pad[:, :, m:m + stride * H_out:stride, n:n + stride * W_out:stride] += dwin[..., m, n]
    dx = dx_pad[:, :, padding:padding + H, padding:padding + W]
    return dx.copy(), dw, db


# --------------------------------------------------------------------------- oracles

def _torch_conv(x, w, b=None, stride=1, padding=0):
    import torch
    import torch.nn.functional as F

    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    y = F.conv2d(t(x), t(w), None if b is None else t(b), stride=stride, padding=padding)
    return y.numpy()


def _conv_args(inputs):
    return (inputs["x"], inputs["w"], inputs.get("b"), inputs.get("stride", 1),
            inputs.get("padding", 0))


def _tolerance(x):
    """float32 sums of products differ from PyTorch's by up to ~4e-5; float64 by ~1e-15."""
    return dict(rtol=1e-4, atol=1e-4) if x.dtype == np.float32 else dict(rtol=1e-7, atol=1e-9)


# --------------------------------------------------------------------------- 3.1 and 3.2

def _conv_cases(rng, sizes="small"):
    r = lambda *shape: rng.standard_normal(shape)
    cases = [
        Case("one channel, 5×5 input, 3×3 kernel", dict(x=r(1, 1, 5, 5), w=r(1, 1, 3, 3),
                                                       b=r(1), stride=1, padding=0)),
        Case("3 channels in, 4 out, random", dict(x=r(2, 3, 6, 6), w=r(4, 3, 3, 3), b=r(4),
                                                 stride=1, padding=0)),
        Case("padding 2", dict(x=r(2, 2, 5, 6), w=r(3, 2, 3, 3), b=r(3), stride=1, padding=2)),
        Case("stride 2, padding 1", dict(x=r(2, 3, 7, 7), w=r(4, 3, 3, 3), b=r(4),
                                         stride=2, padding=1)),
        Case("non-square input and kernel (2×4), padding 1", dict(
            x=r(2, 2, 6, 9), w=r(3, 2, 2, 4), b=r(3), stride=1, padding=1)),
        Case("batch of 1, no bias (b=None), stride 2 that leaves a row over", dict(
            x=r(1, 3, 8, 9), w=r(2, 3, 3, 3), b=None, stride=2, padding=0)),
        Case("default b, stride and padding", dict(x=r(2, 1, 6, 7), w=r(2, 1, 3, 2))),
        Case("stride 3, padding 2, kernel as large as the input", dict(
            x=r(1, 2, 4, 5), w=r(2, 2, 4, 5), b=r(2), stride=3, padding=2)),
        Case("float32, compared at rtol = atol = 1e-4", dict(
            x=r(2, 3, 9, 8).astype(np.float32), w=r(5, 3, 3, 3).astype(np.float32),
            b=r(5).astype(np.float32), stride=1, padding=1)),
    ]
    if sizes == "medium":
        cases.append(Case("medium, 16 channels in and out", dict(
            x=r(4, 16, 12, 12), w=r(16, 16, 3, 3), b=r(16), stride=1, padding=1)))
    return cases


def _flip(axes):
    def conv(x, w, b=None, stride=1, padding=0, **_):
        return _torch_conv(x, np.flip(w, axis=axes).copy(), b, stride, padding)
    return conv


def _no_bias(x, w, b=None, stride=1, padding=0, **_):
    if b is None or not np.any(b):
        raise ValueError("no bias to ignore")
    return _torch_conv(x, w, None, stride, padding)


def _transposed_kernel(x, w, b=None, stride=1, padding=0, **_):
    return _torch_conv(x, w.transpose(0, 1, 3, 2).copy(), b, stride, padding)


def _one_side(before, after):
    def conv(x, w, b=None, stride=1, padding=0, **_):
        if padding == 0:
            raise ValueError("no padding")
        xp = np.pad(x, ((0, 0), (0, 0), (before * padding, after * padding),
                        (before * padding, after * padding)))
        return _torch_conv(xp, w, b, stride, 0)
    return conv


def _columns_channels_last(x, w, b=None, stride=1, padding=0, **_):
    """X_col's columns ordered (KH, KW, C) but multiplied by w.reshape(C_out, -1), which is
    ordered (C, KH, KW): the same as a convolution with the weights read in the wrong order."""
    C_out, C, KH, KW = w.shape
    if C == 1:
        raise ValueError("one channel: both orders agree")
    w_read = w.reshape(C_out, KH, KW, C).transpose(0, 3, 1, 2).copy()   # what the matmul meets
    return _torch_conv(x, w_read, b, stride, padding)


_COLUMN_ORDER = ("X_col's columns are in the wrong order: w.reshape(C_out, -1) flattens each "
                 "filter as (C, KH, KW), channel first, so each row of X_col must list the "
                 "window the same way, (C, KH, KW), e.g. windows of shape (N, H', W', C, KH, KW) "
                 "reshaped to (N·H'·W', C·KH·KW).")

_ONE_SIDE = ("Padding on one side only? Pad `padding` zeros on all four sides: top, bottom, "
             "left and right, so the padded input is (H + 2·padding) × (W + 2·padding).")
_CONV_MISTAKES = [
    (_flip((2, 3)), "The kernel is flipped. Deep learning's 'convolution' is cross-correlation: "
                    "y[i, j] = Σ x[i+m, j+n]·w[m, n], with no flip of w."),
    (_flip((2,)), "The kernel is flipped upside down: use w[f, c, m, n] with x[.., i+m, j+n]."),
    (_flip((3,)), "The kernel is flipped left to right: use w[f, c, m, n] with x[.., i+m, j+n]."),
    (_no_bias, "The bias is ignored: add b[f] to every output position of channel f "
               "(when b is not None)."),
    (_transposed_kernel, "The kernel is transposed: m indexes rows (with i), n columns (with j)."),
    (_one_side(1, 0), _ONE_SIDE), (_one_side(0, 1), _ONE_SIDE),
    (_one_side(2, 0), _ONE_SIDE), (_one_side(0, 2), _ONE_SIDE),
]

_SIZE = "H' = (H + 2·padding − KH) // stride + 1, and W' = (W + 2·padding − KW) // stride + 1."


def _conv_shape_hint(got_shape, inputs):
    """Name the output-size mistake that gives ``got_shape``, if it is a known one."""
    x, w, _, s, p = _conv_args(inputs)
    (N, _, H, W), (C_out, _, KH, KW) = x.shape, w.shape
    if len(got_shape) != 4:
        return f"The output is 4-D: (N, C_out, H', W'), with {_SIZE}"
    if got_shape[:2] != (N, C_out):
        if got_shape[0] == N and got_shape[3] == C_out:
            return "The layout is (N, C_out, H', W'): channels come before height and width."
        return "The output has one map per sample and filter: shape (N, C_out, H', W')."
    right = (output_size(H, KH, s, p), output_size(W, KW, s, p))
    candidates = [
        (lambda h, k: (h + p - k) // s + 1, _ONE_SIDE),
        (lambda h, k: (h - k) // s + 1, "Is the padding applied? Pad `padding` zeros on all "
                                        f"four sides; {_SIZE}"),
        (lambda h, k: h + 2 * p - k + 1, f"Is the stride applied? Step the window by `stride`; {_SIZE}"),
        (lambda h, k: -(-(h + 2 * p - k) // s) + 1, "Windows that do not fit are dropped: round "
                                                     f"down, not up. {_SIZE}"),
        (lambda h, k: (h + 2 * p - k) // s, f"Off by one: {_SIZE}"),
    ]
    for size, hint in candidates:
        guess = (size(H, KH), size(W, KW))
        if guess != right and tuple(got_shape[2:]) == guess:
            return hint
    return f"Wrong output size: {_SIZE}"


def _generic_hint(e: Wrong) -> str | None:
    """Hints for the problems expect_array finds that are not about the formula."""
    if " contains " in e.message:
        return ("Was every entry written? Start the output from np.zeros (np.empty holds "
                "leftover memory), and check the window slices.")
    if "should give float64" in e.message:
        return "Make the output with the input's dtype: np.zeros(shape, dtype=x.dtype)."
    return None


def _conv_check(inputs, got, what="output"):
    x, w, b, s, p = _conv_args(inputs)
    ref = _torch_conv(x, w, b, s, p)
    tol = _tolerance(x)
    try:
        expect_array(got, ref, what, **tol)
    except Wrong as e:
        if isinstance(got, np.ndarray) and got.shape != ref.shape:
            e.hint = _conv_shape_hint(got.shape, inputs)
        elif isinstance(got, np.ndarray) and "values differ" in e.message:
            e.message = e.message.replace("the reference", "F.conv2d")
            e.hint = mistake_hint(got, inputs, _CONV_MISTAKES, **tol) or e.hint
        else:
            e.hint = _generic_hint(e) or e.hint
        raise


def _naive_judge(inputs, got):
    _conv_check(inputs, got)


register(Exercise(
    id="3.1", name="conv2d_naive", make_cases=_conv_cases, judge=_naive_judge,
    forbidden=_FRAMEWORK_OPS,
    hint="For each (n, f, i, j): take the window x_pad[n, :, i·stride : i·stride+KH, "
         "j·stride : j·stride+KW], multiply by w[f], sum, add b[f].",
    summary="incl. stride 2 and 3, padding, non-square kernels, batch of 1, no bias, float32"))


# 3.2: the same contract, and at least SPEEDUP× faster than the loop version.
SPEEDUP = 20


def _best_time(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _im2col_call(answer, timed=False, **inputs):
    """Run the learner's function; on the timed case also time it against the loop version
    on the same input, in the same process (best of a few runs each)."""
    y = answer(**inputs)
    if not timed:
        return y
    yours = _best_time(lambda: answer(**inputs), 5)
    loops = _best_time(lambda: reference_conv2d_naive(**inputs), 3)
    return {"y": y, "seconds": yours, "loop_seconds": loops}


def _im2col_cases(rng):
    cases = _conv_cases(rng, sizes="medium")
    r = lambda *shape: rng.standard_normal(shape)
    cases.append(Case(f"speed: at least {SPEEDUP}× faster than the loop version "
                      "on (4, 3, 16, 16) * (8, 3, 3, 3)", dict(
                          x=r(4, 3, 16, 16), w=r(8, 3, 3, 3), b=r(8), stride=1, padding=1,
                          timed=True)))
    return cases


def _im2col_judge(inputs, got):
    if not inputs.get("timed"):
        try:
            return _conv_check(inputs, got)
        except Wrong as e:
            x, w, b, s, p = _conv_args(inputs)
            if isinstance(got, np.ndarray) and "values differ" in e.message:
                e.hint = mistake_hint(got, dict(x=x, w=w, b=b, stride=s, padding=p),
                                      [(_columns_channels_last, _COLUMN_ORDER)],
                                      **_tolerance(x)) or e.hint
            raise
    if not isinstance(got, dict):        # only the course's call returns this dict
        raise Wrong(f"the timed run returned {type(got).__name__}.")
    _conv_check(inputs, got["y"])
    yours, loops = got["seconds"], got["loop_seconds"]
    ratio = loops / max(yours, 1e-9)
    if ratio < SPEEDUP:
        raise Wrong(f"{1e3 * yours:.1f} ms against {1e3 * loops:.1f} ms for the loop version: "
                    f"only {ratio:.1f}× faster, {SPEEDUP}× asked.",
                    "Avoid Python loops over output positions: gather all windows at once "
                    "(a loop over the KH·KW kernel offsets at most, or "
                    "np.lib.stride_tricks.sliding_window_view), then one matrix product.")


register(Exercise(
    id="3.2", name="conv2d_im2col", make_cases=_im2col_cases, judge=_im2col_judge,
    call=_im2col_call, forbidden=_FRAMEWORK_OPS,
    hint="Unfold the windows into a matrix (N·H'·W', C·KH·KW) whose columns are ordered "
         "(C, KH, KW) like w.reshape(C_out, -1), multiply by w.reshape(C_out, -1).T, then "
         "reshape to (N, H', W', C_out) and transpose to (N, C_out, H', W').",
    summary=f"incl. stride 2 and 3, padding, non-square kernels, float32, and ≥ {SPEEDUP}× "
            "faster than loops"))


# --------------------------------------------------------------------------- 3.3

def _torch_pool(x, kernel_size, stride=None, ceil_mode=False):
    import torch
    import torch.nn.functional as F

    y = F.max_pool2d(torch.from_numpy(np.ascontiguousarray(x)), kernel_size, stride,
                     ceil_mode=ceil_mode)
    return y.numpy()


def _pool_cases(rng):
    r = lambda *shape: rng.standard_normal(shape)
    return [
        Case("2×2 windows, default stride", dict(x=r(2, 3, 8, 8), kernel_size=2)),
        Case("3×3 windows, default stride, 7×10 input (windows that do not fit are dropped)",
             dict(x=r(1, 2, 7, 10), kernel_size=3)),
        Case("kernel 3, stride 2 (overlapping windows), 9×7 input",
             dict(x=r(2, 2, 9, 7), kernel_size=3, stride=2)),
        Case("kernel 2, stride 1, batch of 1", dict(x=r(1, 1, 5, 6), kernel_size=2, stride=1)),
        Case("all values negative", dict(x=-np.abs(r(2, 2, 6, 6)) - 0.1, kernel_size=2)),
        Case("kernel 2, stride 3 (gaps between windows)",
             dict(x=r(1, 3, 8, 11), kernel_size=2, stride=3)),
        Case("stride=None passed explicitly, 5×5 input", dict(x=r(2, 1, 5, 5), kernel_size=2,
                                                              stride=None)),
        Case("float32", dict(x=r(2, 4, 6, 6).astype(np.float32), kernel_size=2)),
    ]


def _pool_mistakes():
    def relu_of_max(x, kernel_size, stride=None):
        return np.maximum(_torch_pool(x, kernel_size, stride), 0)

    def average(x, kernel_size, stride=None):
        import torch
        import torch.nn.functional as F
        return F.avg_pool2d(torch.from_numpy(x), kernel_size, stride).numpy()

    return [(relu_of_max, "Is the maximum started at 0? That is wrong for windows whose values are "
                          "all negative: start from the window's first value, or -inf."),
            (average, "That is the average of each window: max pooling keeps the largest value.")]


def _pool_judge(inputs, got):
    x, k, s = inputs["x"], inputs["kernel_size"], inputs.get("stride")
    ref = _torch_pool(x, k, s)
    tol = dict(rtol=1e-6, atol=1e-7)
    try:
        expect_array(got, ref, "output", **tol)
    except Wrong as e:
        if isinstance(got, np.ndarray) and got.shape != ref.shape:
            stride = k if s is None else s
            H, W = x.shape[2:]
            default_one = (output_size(H, k, 1), output_size(W, k, 1))
            ceil = _torch_pool(x, k, s, ceil_mode=True).shape[2:]
            if got.ndim == 4 and got.shape[2:] == default_one and s is None:
                e.hint = "stride=None means the stride equals kernel_size (windows side by side)."
            elif got.ndim == 4 and got.shape[2:] == ceil:
                e.hint = ("Windows that do not fit are dropped (floor, like PyTorch's default "
                          "ceil_mode=False): H' = (H − k) // stride + 1.")
            else:
                e.hint = (f"Output (N, C, H', W') with H' = (H − kernel_size) // stride + 1; "
                          f"here stride = {stride}.")
        elif isinstance(got, np.ndarray) and "values differ" in e.message:
            e.message = e.message.replace("the reference", "F.max_pool2d")
            e.hint = mistake_hint(got, inputs, _pool_mistakes(), **tol) or e.hint
        else:
            e.hint = _generic_hint(e) or e.hint
        raise


register(Exercise(
    id="3.3", name="max_pool2d", make_cases=_pool_cases, judge=_pool_judge,
    forbidden=_FRAMEWORK_OPS,
    hint="Window (i, j) covers rows i·stride … i·stride+k−1 and columns j·stride … j·stride+k−1; "
         "take its maximum.",
    summary="incl. default stride, overlapping windows, leftover rows, negative values"))


# --------------------------------------------------------------------------- 3.4

def _autograd_grads(dout, x, w, stride, padding):
    import torch
    import torch.nn.functional as F

    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.zeros(w.shape[0], dtype=wt.dtype, requires_grad=True)
    y = F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    y.backward(torch.from_numpy(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def _numerical_grads(dout, x, w, stride, padding):
    """Central differences of L(x, w, b) = Σ dout · conv2d(x, w, b) (chapter 02's helper)."""
    from course.gradients import numerical_gradient

    x, w = x.copy(), w.copy()
    b = np.zeros(w.shape[0])
    loss = lambda: float(np.sum(dout * _torch_conv(x, w, b, stride, padding)))
    return (numerical_gradient(lambda _: loss(), x), numerical_gradient(lambda _: loss(), w),
            numerical_gradient(lambda _: loss(), b))


def _backward_cases(rng):
    r = lambda *shape: rng.standard_normal(shape)

    def case(label, x_shape, w_shape, stride=1, padding=0, numerical=False, defaults=False):
        x, w = r(*x_shape), r(*w_shape)
        H, W = x_shape[2:]
        H_out, W_out = (output_size(H, w_shape[2], stride, padding),
                        output_size(W, w_shape[3], stride, padding))
        inputs = dict(dout=r(x_shape[0], w_shape[0], H_out, W_out), x=x, w=w)
        if not defaults:
            inputs |= dict(stride=stride, padding=padding)
        if numerical:
            inputs["numerical"] = True
        return Case(label, inputs)

    return [
        case("3 channels in, 4 out", (2, 3, 6, 6), (4, 3, 3, 3)),
        case("padding 1, as many filters as channels", (2, 3, 5, 5), (3, 3, 3, 3), padding=1),
        case("stride 2, padding 1", (2, 2, 7, 7), (3, 2, 3, 3), stride=2, padding=1),
        case("non-square input and kernel (2×3), padding 1", (2, 2, 5, 8), (3, 2, 2, 3),
             padding=1),
        case("batch of 1, stride 2 that leaves a row and a column over", (1, 3, 8, 9),
             (2, 3, 3, 3), stride=2),
        case("default stride and padding", (2, 2, 6, 5), (3, 2, 3, 3), defaults=True),
        case("stride 3, padding 2, 2×2 kernel", (2, 2, 7, 7), (3, 2, 2, 2), stride=3, padding=2),
        case("tiny case against numerical gradients (stride 2, padding 1)", (1, 2, 4, 5),
             (2, 2, 2, 3), stride=2, padding=1, numerical=True),
    ]


def _backward_call(answer, numerical=False, **inputs):
    return answer(**inputs)


def _dx_stride_ignored(dout, x, w, stride=1, padding=0, **_):
    """dx as if the windows were 1 apart: dout[n,f,i,j]·w lands at (i + m, j + n)."""
    if stride == 1:
        raise ValueError("stride 1")
    N, C, H, W = x.shape
    _, _, KH, KW = w.shape
    dx_pad = np.zeros((N, C, H + 2 * padding, W + 2 * padding))
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            if i + KH <= dx_pad.shape[2] and j + KW <= dx_pad.shape[3]:
                dx_pad[:, :, i:i + KH, j:j + KW] += np.einsum("nf,fckl->nckl", dout[:, :, i, j], w)
    return dx_pad[:, :, padding:padding + H, padding:padding + W]


def _dw_stride_ignored(dout, x, w, stride=1, padding=0, **_):
    if stride == 1:
        raise ValueError("stride 1")
    H_out, W_out = dout.shape[2:]
    win = _windows(x, w.shape[2], w.shape[3], 1, padding)[:, :, :H_out, :W_out]
    return np.einsum("nfij,ncijkl->fckl", dout, win)


_STRIDE_DX = ("Is the stride ignored in dx? Output (i, j) read x_pad at rows i·stride + m and "
              "columns j·stride + n: send dout[n, f, i, j]·w[f, c, m, n] back to exactly there.")
_STRIDE_DW = ("Is the stride ignored in dw? dw[f, c, m, n] = Σ dout[n, f, i, j]·"
              "x_pad[n, c, i·stride + m, j·stride + n].")
_DW_LAYOUT = "dw has the layout of w, (C_out, C, KH, KW): check the order of your transpose/reshape."


def _backward_judge(inputs, got):
    dout, x, w = inputs["dout"], inputs["x"], inputs["w"]
    stride, padding = inputs.get("stride", 1), inputs.get("padding", 0)
    if inputs.get("numerical"):
        ref, oracle, tol = _numerical_grads(dout, x, w, stride, padding), "numerical gradient", \
            dict(rtol=1e-5, atol=1e-6)
    else:
        ref, oracle, tol = _autograd_grads(dout, x, w, stride, padding), "autograd", \
            dict(rtol=1e-7, atol=1e-9)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        n = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        raise Wrong(f"returned {describe(got)}{n}, "
                    "expected a tuple (dx, dw, db).",
                    "Return all three gradients: return dx, dw, db (db even without a bias).")
    args = dict(dout=dout, x=x, w=w, stride=stride, padding=padding)
    for name, g, r in zip(("dx", "dw", "db"), got, ref):
        try:
            expect_array(g, r, name, **tol)
        except Wrong as e:
            e.message = e.message.replace("the reference", oracle)
            shape_wrong = isinstance(g, np.ndarray) and g.shape != r.shape
            if _generic_hint(e):
                e.hint = _generic_hint(e)
            elif name == "db" and isinstance(g, np.ndarray):
                if shape_wrong or np.allclose(g, dout.mean(axis=(0, 2, 3))):
                    e.hint = ("db[f] sums dout over the batch and every output position: "
                              "dout.sum(axis=(0, 2, 3)), shape (C_out,).")
            elif name == "dw" and isinstance(g, np.ndarray):
                transposes = [r.transpose(1, 0, 2, 3), r.transpose(0, 1, 3, 2),
                              r.transpose(1, 0, 3, 2)]
                if shape_wrong and sorted(g.shape) == sorted(r.shape):
                    e.hint = _DW_LAYOUT
                elif any(t.shape == g.shape and np.allclose(g, t, **tol) for t in transposes):
                    e.hint = "dw is transposed. " + _DW_LAYOUT
                else:
                    e.hint = mistake_hint(g, args, [(_dw_stride_ignored, _STRIDE_DW)], **tol) \
                        or e.hint
            elif name == "dx" and isinstance(g, np.ndarray):
                N, C, H, W = x.shape
                if shape_wrong and g.shape == (N, C, H + 2 * padding, W + 2 * padding):
                    e.hint = ("dx has the padded shape: cut the padding off, "
                              "dx = dx_pad[:, :, p:p+H, p:p+W].")
                elif shape_wrong:
                    e.hint = "dx has the shape of x, (N, C, H, W)."
                else:
                    e.hint = mistake_hint(g, args, [(_dx_stride_ignored, _STRIDE_DX)], **tol) \
                        or e.hint
            raise


register(Exercise(
    id="3.4", name="conv2d_backward", make_cases=_backward_cases, judge=_backward_judge,
    call=_backward_call, forbidden=_FRAMEWORK_OPS + _AUTOGRAD,
    hint="Each output entry y[n,f,i,j] used the window at (i·stride, j·stride): db sums dout, "
         "dw adds dout·window, dx_pad adds dout·w[f] back onto that window.",
    summary="incl. stride 2 and 3, padding, non-square kernels, batch of 1, and numerical "
            "gradients"))
