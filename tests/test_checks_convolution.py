"""Chapter 03: each check rejects the mistakes issue 6 lists, with a hint that names them."""
import importlib

import numpy as np
import pytest

from course.exercises import convolution as ref
from tests.helpers import assert_fails, assert_passes


# --------------------------------------------------------------------------- helpers

def conv_loops(x, w, b=None, stride=1, padding=0, *, flip=False, bias=True, pad=(1, 1),
               size=None, transpose=False, col_stride=None):
    """A loop convolution with switchable mistakes (pad = multiples of padding before/after)."""
    N, C, H, W = x.shape
    C_out, _, KH, KW = w.shape
    if flip:
        w = w[:, :, ::-1, ::-1]
    if transpose:
        w = w.transpose(0, 1, 3, 2)
    before, after = pad[0] * padding, pad[1] * padding
    xp = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)))
    size = size or (lambda h, k: (h + before + after - k) // stride + 1)
    H_out, W_out = size(H, KH), size(W, KW)
    cs = col_stride or stride
    y = np.zeros((N, C_out, H_out, W_out))
    for n in range(N):
        for f in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    win = xp[n, :, i * stride:i * stride + KH, j * cs:j * cs + KW]
                    if win.shape != w[f].shape:          # ran off the edge (a wrong size)
                        win = np.pad(win, [(0, a - s) for a, s in zip(w[f].shape, win.shape)])
                    y[n, f, i, j] = np.sum(win * w[f])
                    if bias and b is not None:
                        y[n, f, i, j] += b[f]
    return y


def mistake(**kw):
    return lambda x, w, b=None, stride=1, padding=0: conv_loops(x, w, b, stride, padding, **kw)


# --------------------------------------------------------------------------- 3.1

def test_naive_references_pass():
    assert_passes("conv2d_naive", ref.reference_conv2d_naive)
    assert_passes("conv2d_naive", mistake())          # the switchable loop version itself


def test_naive_flipped_kernel():
    assert_fails("conv2d_naive", mistake(flip=True), "flipped", "cross-correlation")


def test_naive_transposed_kernel():
    assert_fails("conv2d_naive", mistake(transpose=True), "transposed")


def test_naive_bias_ignored():
    assert_fails("conv2d_naive", mistake(bias=False), "bias is ignored")


def test_naive_padding_one_side_only():
    assert_fails("conv2d_naive", mistake(pad=(1, 0)), "one side only")     # output too small
    assert_fails("conv2d_naive", mistake(pad=(0, 1)), "one side only")
    assert_fails("conv2d_naive", mistake(pad=(2, 0)), "one side only")     # right size, shifted
    assert_fails("conv2d_naive", mistake(pad=(0, 2)), "one side only")


def test_naive_wrong_output_size():
    off_by_one = lambda x, w, b=None, stride=1, padding=0: conv_loops(
        x, w, b, stride, padding, size=lambda h, k: (h + 2 * padding - k) // stride)
    assert_fails("conv2d_naive", off_by_one, "off by one", "H'")
    same = lambda x, w, b=None, stride=1, padding=0: conv_loops(
        x, w, b, stride, padding, size=lambda h, k: h)
    assert_fails("conv2d_naive", same, "output size", "H'")


def test_naive_ceil_instead_of_floor():
    ceil = lambda x, w, b=None, stride=1, padding=0: conv_loops(
        x, w, b, stride, padding, size=lambda h, k: -(-(h + 2 * padding - k) // stride) + 1)
    assert_fails("conv2d_naive", ceil, "round down")


def test_naive_stride_ignored():
    def no_stride(x, w, b=None, stride=1, padding=0):
        return conv_loops(x, w, b, 1, padding)
    assert_fails("conv2d_naive", no_stride, "stride")


def test_naive_stride_on_rows_only():
    def rows_only(x, w, b=None, stride=1, padding=0):
        return conv_loops(x, w, b, stride, padding, col_stride=1,
                          size=lambda h, k: (h + 2 * padding - k) // stride + 1)
    assert_fails("conv2d_naive", rows_only, "stride")


def test_naive_channels_last_layout():
    def channels_last(x, w, b=None, stride=1, padding=0):
        return ref.reference_conv2d_naive(x, w, b, stride, padding).transpose(0, 2, 3, 1)
    assert_fails("conv2d_naive", channels_last, "(N, C_out, H', W')")


def test_naive_bad_returns():
    def no_return(x, w, b=None, stride=1, padding=0):
        ref.reference_conv2d_naive(x, w, b, stride, padding)
    assert_fails("conv2d_naive", no_return, "None", "return")
    assert_fails("conv2d_naive", lambda x, w, b=None, stride=1, padding=0:
                 ref.reference_conv2d_naive(x, w, b, stride, padding).tolist(), "list")
    assert_fails("conv2d_naive", lambda x, w, b=None, stride=1, padding=0:
                 ref.reference_conv2d_naive(x, w, b, stride, padding) * np.nan, "NaN", "np.zeros")
    assert_fails("conv2d_naive", lambda x, w, b=None, stride=1, padding=0:
                 ref.reference_conv2d_naive(x, w, b, stride, padding).astype(np.float32),
                 "float64", "dtype=x.dtype")
    assert_fails("conv2d_naive", lambda x, w, b=None, stride=1, padding=0:
                 ref.reference_conv2d_naive(x, w, b, stride, padding).round().astype(int), "dtype")


def test_naive_requires_the_defaults():
    def no_defaults(x, w, b, stride, padding):
        return ref.reference_conv2d_naive(x, w, b, stride, padding)
    assert_fails("conv2d_naive", no_defaults, "missing")


def test_naive_changes_its_input():
    def in_place(x, w, b=None, stride=1, padding=0):
        y = ref.reference_conv2d_naive(x, w, b, stride, padding)
        x *= 0
        return y
    assert_fails("conv2d_naive", in_place, "in place")


def test_naive_torch_is_rejected():
    def with_torch(x, w, b=None, stride=1, padding=0):
        import torch
        t = torch.from_numpy
        return torch.nn.functional.conv2d(t(x), t(w), None if b is None else t(b),
                                          stride=stride, padding=padding).numpy()
    assert_fails("conv2d_naive", with_torch, "torch", "build yourself")


def test_naive_hidden_framework_call_is_recorded():
    def sneaky(x, w, b=None, stride=1, padding=0):
        tf = importlib.import_module("to" + "rch").nn.functional
        t = importlib.import_module("to" + "rch").from_numpy
        return getattr(tf, "conv" + "2d")(t(x), t(w), None if b is None else t(b),
                                          stride=stride, padding=padding).numpy()
    assert_fails("conv2d_naive", sneaky, "calls torch.nn.functional.conv2d")


def test_naive_scipy_is_rejected():
    def with_scipy(x, w, b=None, stride=1, padding=0):
        from scipy.signal import correlate2d
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        y = np.stack([np.stack([sum(correlate2d(xp[n, c], w[f, c], mode="valid")
                                    for c in range(x.shape[1])) for f in range(w.shape[0])])
                      for n in range(x.shape[0])])[:, :, ::stride, ::stride]
        return y if b is None else y + b[:, None, None]
    assert_fails("conv2d_naive", with_scipy, "correlate2d")


# --------------------------------------------------------------------------- 3.2

def test_im2col_reference_passes():
    assert_passes("conv2d_im2col", ref.reference_conv2d_im2col)


def test_im2col_loops_are_too_slow():
    r = assert_fails("conv2d_im2col", ref.reference_conv2d_naive, "faster", "speed")
    assert "loop version" in r.message


def test_im2col_flipped_kernel():
    def flipped(x, w, b=None, stride=1, padding=0):
        return ref.reference_conv2d_im2col(x, w[:, :, ::-1, ::-1], b, stride, padding)
    assert_fails("conv2d_im2col", flipped, "flipped")


def test_im2col_bias_ignored():
    assert_fails("conv2d_im2col", lambda x, w, b=None, stride=1, padding=0:
                 ref.reference_conv2d_im2col(x, w, None, stride, padding), "bias is ignored")


def test_im2col_wrong_reshape():
    def reshaped(x, w, b=None, stride=1, padding=0):
        y = ref.reference_conv2d_im2col(x, w, b, stride, padding)
        return y.transpose(0, 2, 3, 1).reshape(y.shape)       # (N·H'·W', C_out) read as (N, C_out, H', W')
    assert_fails("conv2d_im2col", reshaped, "values differ from F.conv2d")


def test_im2col_columns_in_the_wrong_order():
    """X_col's columns built (KH, KW, C) but multiplied by w.reshape(C_out, -1), ordered (C, KH, KW)."""
    def channels_last_columns(x, w, b=None, stride=1, padding=0):
        N, C, H, W = x.shape
        C_out, _, KH, KW = w.shape
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))
        win = win[:, :, ::stride, ::stride]                     # (N, C, H', W', KH, KW)
        H_out, W_out = win.shape[2:4]
        cols = win.transpose(0, 2, 3, 4, 5, 1).reshape(N * H_out * W_out, KH * KW * C)  # (KH, KW, C)
        y = cols @ w.reshape(C_out, -1).T                       # ... but w is (C, KH, KW)
        if b is not None:
            y = y + b
        return y.reshape(N, H_out, W_out, C_out).transpose(0, 3, 1, 2)
    assert_fails("conv2d_im2col", channels_last_columns, "columns are in the wrong order", "(C, KH, KW)")


def test_im2col_padding_one_side_only():
    def one_side(x, w, b=None, stride=1, padding=0):
        xp = np.pad(x, ((0, 0), (0, 0), (2 * padding, 0), (2 * padding, 0)))
        return ref.reference_conv2d_im2col(xp, w, b, stride, 0)
    assert_fails("conv2d_im2col", one_side, "one side only")


def test_im2col_torch_is_rejected():
    def with_torch(x, w, b=None, stride=1, padding=0):
        import torch.nn.functional as F
        from torch import from_numpy as t
        return F.conv2d(t(x), t(w), None if b is None else t(b), stride=stride,
                        padding=padding).numpy()
    assert_fails("conv2d_im2col", with_torch, "torch")


def test_im2col_torch_unfold_is_rejected():
    def with_unfold(x, w, b=None, stride=1, padding=0):
        tf = importlib.import_module("to" + "rch").nn.functional
        t = importlib.import_module("to" + "rch").from_numpy
        cols = getattr(tf, "un" + "fold")(t(x), w.shape[2:], padding=padding, stride=stride).numpy()
        return np.einsum("fk,nkl->nfl", w.reshape(len(w), -1), cols)
    assert_fails("conv2d_im2col", with_unfold, "calls torch.nn.functional.unfold")


# --------------------------------------------------------------------------- 3.3

def pool_loops(x, kernel_size, stride=None, *, default=None, ceil=False, start=None, reduce=np.max):
    s = stride if stride is not None else (default if default is not None else kernel_size)
    N, C, H, W = x.shape
    k = kernel_size
    size = (lambda h: -(-(h - k) // s) + 1) if ceil else (lambda h: (h - k) // s + 1)
    y = np.zeros((N, C, size(H), size(W)))
    for i in range(size(H)):
        for j in range(size(W)):
            win = x[:, :, i * s:i * s + k, j * s:j * s + k]
            y[:, :, i, j] = reduce(win, axis=(2, 3))
            if start is not None:
                y[:, :, i, j] = np.maximum(y[:, :, i, j], start)
    return y


def test_pool_references_pass():
    assert_passes("max_pool2d", ref.reference_max_pool2d)
    assert_passes("max_pool2d", pool_loops)


def test_pool_wrong_default_stride():
    assert_fails("max_pool2d", lambda x, kernel_size, stride=None:
                 pool_loops(x, kernel_size, stride, default=1), "stride=None", "kernel_size")
    assert_fails("max_pool2d", lambda x, kernel_size, stride=1:
                 pool_loops(x, kernel_size, stride), "stride=None")


def test_pool_ceil_instead_of_floor():
    assert_fails("max_pool2d", lambda x, kernel_size, stride=None:
                 pool_loops(x, kernel_size, stride, ceil=True), "floor", "dropped")


def test_pool_max_started_at_zero():
    assert_fails("max_pool2d", lambda x, kernel_size, stride=None:
                 pool_loops(x, kernel_size, stride, start=0.0), "negative")


def test_pool_average_instead_of_max():
    assert_fails("max_pool2d", lambda x, kernel_size, stride=None:
                 pool_loops(x, kernel_size, stride, reduce=np.mean), "average")


def test_pool_bad_returns():
    assert_fails("max_pool2d", lambda x, kernel_size, stride=None:
                 pool_loops(x, kernel_size, stride)[0], "shape")
    assert_fails("max_pool2d", lambda x, kernel_size, stride=None: None, "None")


def test_pool_torch_is_rejected():
    def with_torch(x, kernel_size, stride=None):
        import torch
        return torch.nn.functional.max_pool2d(torch.from_numpy(x), kernel_size, stride).numpy()
    assert_fails("max_pool2d", with_torch, "torch")

    def sneaky(x, kernel_size, stride=None):
        t = importlib.import_module("to" + "rch")
        pool = getattr(t.nn.functional, "max_" + "pool2d")
        return pool(t.from_numpy(x), kernel_size, stride).numpy()
    assert_fails("max_pool2d", sneaky, "calls", "torch.nn.functional.max_pool2d")


# --------------------------------------------------------------------------- 3.4

def backward_loops(dout, x, w, stride=1, padding=0, *, stride_in_dx=True, crop=True):
    """Loop backward pass with switchable mistakes."""
    N, C, H, W = x.shape
    C_out, _, KH, KW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    s_dx = stride if stride_in_dx else 1
    for n in range(N):
        for f in range(C_out):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    r, c = i * stride, j * stride
                    dw[f] += dout[n, f, i, j] * xp[n, :, r:r + KH, c:c + KW]
                    r, c = i * s_dx, j * s_dx
                    dxp[n, :, r:r + KH, c:c + KW] += dout[n, f, i, j] * w[f]
    dx = dxp[:, :, padding:padding + H, padding:padding + W] if crop else dxp
    return dx, dw, dout.sum(axis=(0, 2, 3))


def test_backward_references_pass():
    assert_passes("conv2d_backward", ref.reference_conv2d_backward)
    assert_passes("conv2d_backward", backward_loops)


def test_backward_db_not_summed():
    def db_per_sample(dout, x, w, stride=1, padding=0):
        dx, dw, _ = backward_loops(dout, x, w, stride, padding)
        return dx, dw, dout.sum(axis=(2, 3))
    assert_fails("conv2d_backward", db_per_sample, "db", "sum", "(C_out,)")

    def db_not_summed(dout, x, w, stride=1, padding=0):
        dx, dw, _ = backward_loops(dout, x, w, stride, padding)
        return dx, dw, dout
    assert_fails("conv2d_backward", db_not_summed, "db", "sum")

    def db_mean(dout, x, w, stride=1, padding=0):
        dx, dw, _ = backward_loops(dout, x, w, stride, padding)
        return dx, dw, dout.mean(axis=(0, 2, 3))
    assert_fails("conv2d_backward", db_mean, "db", "sum")


def test_backward_dw_transposed():
    def dw_fc_swapped(dout, x, w, stride=1, padding=0):
        dx, dw, db = backward_loops(dout, x, w, stride, padding)
        return dx, dw.transpose(1, 0, 2, 3), db
    assert_fails("conv2d_backward", dw_fc_swapped, "dw", "layout of w")

    def dw_kernel_transposed(dout, x, w, stride=1, padding=0):
        dx, dw, db = backward_loops(dout, x, w, stride, padding)
        return dx, dw.transpose(0, 1, 3, 2), db
    assert_fails("conv2d_backward", dw_kernel_transposed, "dw is transposed")


def test_backward_stride_ignored_in_dx():
    assert_fails("conv2d_backward", lambda dout, x, w, stride=1, padding=0:
                 backward_loops(dout, x, w, stride, padding, stride_in_dx=False),
                 "dx", "stride ignored")


def test_backward_padding_not_cropped():
    assert_fails("conv2d_backward", lambda dout, x, w, stride=1, padding=0:
                 backward_loops(dout, x, w, stride, padding, crop=False), "cut the padding off")


def test_backward_bad_returns():
    assert_fails("conv2d_backward", lambda dout, x, w, stride=1, padding=0:
                 backward_loops(dout, x, w, stride, padding)[:2], "tuple (dx, dw, db)")
    assert_fails("conv2d_backward", lambda dout, x, w, stride=1, padding=0: None,
                 "None", "tuple")
    assert_fails("conv2d_backward", lambda dout, x, w, stride=1, padding=0:
                 tuple(g * np.nan for g in backward_loops(dout, x, w, stride, padding)), "NaN", "np.zeros")


def test_backward_autograd_is_rejected():
    def with_autograd(dout, x, w, stride=1, padding=0):
        import torch
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        y = sum(xt[:, c:c + 1] for c in range(1))            # anything that uses torch
        return xt.grad, wt.grad, y
    assert_fails("conv2d_backward", with_autograd, "torch")

    def sneaky(dout, x, w, stride=1, padding=0):
        t = importlib.import_module("to" + "rch")
        xt, wt = t.tensor(x, requires_grad=True), t.tensor(w, requires_grad=True)
        bt = t.zeros(len(w), dtype=t.float64, requires_grad=True)
        y = getattr(t.nn.functional, "conv" + "2d")(xt, wt, bt, stride=stride, padding=padding)
        getattr(t.autograd, "back" + "ward")(y, t.from_numpy(dout))
        return tuple(getattr(v, "gr" + "ad").numpy() for v in (xt, wt, bt))
    assert_fails("conv2d_backward", sneaky, "calls torch.autograd.backward")


# --------------------------------------------------------------------------- helpers of the module

@pytest.mark.parametrize("H,K,S,P,expected", [(8, 3, 1, 0, 6), (8, 3, 1, 1, 8), (7, 3, 2, 1, 4),
                                               (8, 3, 2, 0, 3), (5, 5, 3, 2, 2)])
def test_output_size(H, K, S, P, expected):
    assert ref.output_size(H, K, S, P) == expected


def test_references_agree_with_each_other():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 9, 7)), rng.standard_normal((4, 3, 2, 3)), rng.standard_normal(4)
    for s, p in [(1, 0), (2, 1), (3, 2)]:
        np.testing.assert_allclose(ref.reference_conv2d_naive(x, w, b, s, p),
                                   ref.reference_conv2d_im2col(x, w, b, s, p), atol=1e-12)


def test_naive_torch_tensor_result_is_rejected():
    def tensor_out(x, w, b=None, stride=1, padding=0):
        t = importlib.import_module("to" + "rch")
        return t.from_numpy(ref.reference_conv2d_naive(x, w, b, stride, padding))
    assert_fails("conv2d_naive", tensor_out, "torch.Tensor", "NumPy")

# --------------------------------------------------------------------------- right answers in other styles
# Run through the notebook's check and through the grader by tests/test_right_answers.py (issue 18).

ALTERNATIVES: dict[str, list[str]] = {
    "conv2d_naive": [
        # strided views of every window, then one einsum
        '''import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv2d_naive(x, w, b=None, stride=1, padding=0):
    C_out, C, KH, KW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x_pad, (KH, KW), axis=(2, 3))[:, :, ::stride, ::stride]
    y = np.einsum("nchwij,fcij->nfhw", windows, w)        # (N, C, H', W', KH, KW) -> (N, C_out, H', W')
    if b is not None:
        y = y + b[None, :, None, None]
    return y
''',
        # loops over the output positions, a helper for the padding
        '''def pad_hw(x, p):
    return np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])


def conv2d_naive(x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    F_, _, KH, KW = w.shape
    H_out = (H + 2 * padding - KH) // stride + 1
    W_out = (W + 2 * padding - KW) // stride + 1
    xp = pad_hw(x, padding)
    y = np.zeros((N, F_, H_out, W_out), dtype=np.result_type(x, w))
    for i in range(H_out):
        for j in range(W_out):
            patch = xp[:, :, i * stride:i * stride + KH, j * stride:j * stride + KW]   # (N, C, KH, KW)
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))       # (N, F)
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y
''',
    ],
    "conv2d_im2col": [
        # windows as a strided view, copied into columns, one matmul
        '''import numpy as np


def conv2d_im2col(x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    C_out, _, KH, KW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    H_out = (x_pad.shape[2] - KH) // stride + 1
    W_out = (x_pad.shape[3] - KW) // stride + 1
    sN, sC, sH, sW = x_pad.strides
    windows = np.lib.stride_tricks.as_strided(
        x_pad, shape=(N, H_out, W_out, C, KH, KW),
        strides=(sN, sH * stride, sW * stride, sC, sH, sW), writeable=False)
    cols = windows.reshape(N * H_out * W_out, C * KH * KW)          # X_col
    y = cols @ w.reshape(C_out, -1).T                               # (N·H'·W', C_out)
    if b is not None:
        y = y + b
    return np.ascontiguousarray(y.reshape(N, H_out, W_out, C_out).transpose(0, 3, 1, 2))
''',
        # index arrays (rows, cols) pick every window's pixels: a gather, then one matmul
        '''def conv2d_im2col(x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    C_out, _, KH, KW = w.shape
    H_out = (H + 2 * padding - KH) // stride + 1
    W_out = (W + 2 * padding - KW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    rows = (np.arange(KH)[:, None] + stride * np.arange(H_out)[None, :])   # (KH, H')
    cols = (np.arange(KW)[:, None] + stride * np.arange(W_out)[None, :])   # (KW, W')
    patches = x_pad[:, :, rows[:, None, :, None], cols[None, :, None, :]]  # (N, C, KH, KW, H', W')
    X_col = patches.reshape(N, C * KH * KW, H_out * W_out)
    y = np.matmul(w.reshape(C_out, C * KH * KW), X_col)                    # (N, C_out, H'·W')
    if b is not None:
        y += b[:, None]
    return y.reshape(N, C_out, H_out, W_out)
''',
    ],
    "max_pool2d": [
        '''import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def max_pool2d(x, kernel_size, stride=None):
    stride = stride or kernel_size
    windows = sliding_window_view(x, (kernel_size, kernel_size), axis=(2, 3))
    return windows[:, :, ::stride, ::stride].max(axis=(-2, -1))
''',
        '''def max_pool2d(x, kernel_size, stride=None):
    k = kernel_size
    s = k if stride is None else stride
    N, C, H, W = x.shape
    H_out, W_out = (H - k) // s + 1, (W - k) // s + 1
    y = np.empty((N, C, H_out, W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            y[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return y
''',
    ],
    "conv2d_backward": [
        # im2col index arrays, and np.add.at to scatter the columns' gradients back
        '''import numpy as np


def conv2d_backward(dout, x, w, stride=1, padding=0):
    N, C, H, W = x.shape
    C_out, _, KH, KW = w.shape
    H_out, W_out = dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    rows = (np.repeat(np.arange(KH), KW)[:, None]
            + stride * np.repeat(np.arange(H_out), W_out)[None, :])     # (KH·KW, H'·W')
    cols = (np.tile(np.arange(KW), KH)[:, None]
            + stride * np.tile(np.arange(W_out), H_out)[None, :])       # (KH·KW, H'·W')
    X_col = x_pad[:, :, rows, cols]                                     # (N, C, KH·KW, H'·W')
    d = dout.reshape(N, C_out, H_out * W_out)                           # (N, C_out, H'·W')
    dw = np.einsum("nfl,nckl->fck", d, X_col).reshape(w.shape)
    d_col = np.einsum("nfl,fck->nckl", d, w.reshape(C_out, C, KH * KW))  # (N, C, KH·KW, H'·W')
    dx_pad = np.zeros(x_pad.shape, dtype=np.result_type(dout, w))
    np.add.at(dx_pad, (slice(None), slice(None), rows, cols), d_col)
    dx = dx_pad[:, :, padding:padding + H, padding:padding + W]
    return dx, dw, dout.sum(axis=(0, 2, 3))
''',
        # loops over the output positions: each one sends its gradient to its window
        '''from collections import namedtuple

import numpy as np

ConvGrads = namedtuple("ConvGrads", "dx dw db")


def conv2d_backward(dout, x, w, stride=1, padding=0):
    N, C, H, W = x.shape
    _, _, KH, KW = w.shape
    p = padding
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dx_pad = np.zeros(x_pad.shape, dtype=np.result_type(dout, w))
    dw = np.zeros(w.shape, dtype=np.result_type(dout, x))
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            r, c = i * stride, j * stride
            g = dout[:, :, i, j]                                        # (N, C_out)
            dw += np.einsum("nf,nckl->fckl", g, x_pad[:, :, r:r + KH, c:c + KW])
            dx_pad[:, :, r:r + KH, c:c + KW] += np.einsum("nf,fckl->nckl", g, w)
    return ConvGrads(dx_pad[:, :, p:p + H, p:p + W], dw, dout.sum(axis=(0, 2, 3)))
''',
    ],
}
