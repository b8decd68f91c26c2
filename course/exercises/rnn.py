"""Chapter 04 — recurrent networks: the recurrence, backpropagation through time, sampling,
and one step of an LSTM.

The recurrence (weights laid out like PyTorch's ``weight_ih_l0`` / ``weight_hh_l0``):

    a_t = W_xh x_t + W_hh h_{t-1} + b_h,        h_t = tanh(a_t)

with x_t (N, D), h_t (N, H), W_xh (H, D), W_hh (H, H), b_h (H,). The references below
are what the notebook's later cells fall back on (``yours_or``); the checks never use
them as the oracle: ``torch.nn.RNN``, ``torch.nn.LSTMCell`` and autograd are.
"""
from __future__ import annotations

import itertools

import numpy as np

from course.exercise import (Case, Exercise, Foreign, TensorData, Wrong, describe, expect_array,
                             mistake_hint, register)

# --------------------------------------------------------------------------- references


def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    """One step: (N, D), (N, H) -> h_t (N, H) = tanh(x_t W_xh^T + h_prev W_hh^T + b_h)."""
    return np.tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b_h)


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    """All hidden states: x (N, T, D), h0 (N, H) -> hs (N, T, H) = h_1 ... h_T."""
    N, T, _ = x.shape
    hs = np.empty((N, T, h0.shape[1]), dtype=np.result_type(x, h0, W_xh, W_hh, b_h))
    h = h0
    for t in range(T):
        h = rnn_step(x[:, t], h, W_xh, W_hh, b_h)
        hs[:, t] = h
    return hs


def rnn_backward(dhs, x, h0, hs, W_xh, W_hh):
    """Backpropagation through time -> (dx (N,T,D), dh0 (N,H), dW_xh, dW_hh, db_h (H,)).

    ``dhs[:, t]`` is the gradient reaching ``hs[:, t]`` from outside the recurrence. Going
    back in time, the gradient at a state is that plus what the next state sends back:

        dh_t = dhs_t + da_{t+1} W_hh,     da_t = dh_t * (1 - h_t^2)      (tanh' via h_t)
    """
    N, T, H = hs.shape
    dx = np.zeros_like(x, dtype=np.result_type(x, dhs))
    dW_xh, dW_hh = np.zeros_like(W_xh), np.zeros_like(W_hh)
    db_h = np.zeros(H, dtype=dW_hh.dtype)
    dh_next = np.zeros_like(h0)                       # gradient from h_{t+1} into h_t
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t > 0 else h0        # (N, H)
        da = (dhs[:, t] + dh_next) * (1.0 - hs[:, t] ** 2)   # (N, H)
        dx[:, t] = da @ W_xh                          # (N, H) @ (H, D) -> (N, D)
        dW_xh += da.T @ x[:, t]                       # (H, N) @ (N, D) -> (H, D)
        dW_hh += da.T @ h_prev                        # (H, N) @ (N, H) -> (H, H)
        db_h += da.sum(axis=0)                        # (H,)
        dh_next = da @ W_hh                           # (N, H) @ (H, H) -> (N, H)
    return dx, dh_next, dW_xh, dW_hh, db_h


def sample(model, prompt, n_chars, temperature=1.0, generator=None):
    """prompt + n_chars characters drawn one at a time from softmax(logits / temperature).

    ``model`` follows :mod:`course.language_model`'s contract: ``model.chars`` is the
    vocabulary and ``model(ids)`` maps (1, T) int64 ids to logits (1, T, V).
    """
    import torch

    index = {c: i for i, c in enumerate(model.chars)}
    ids = [index[c] for c in prompt]
    with torch.no_grad():
        for _ in range(n_chars):
            logits = model(torch.tensor([ids], dtype=torch.long))[0, -1]     # (V,)
            probs = torch.softmax(logits.double() / temperature, dim=-1)
            ids.append(int(torch.multinomial(probs, 1, generator=generator)))
    return prompt + "".join(model.chars[i] for i in ids[len(prompt):])


# --------------------------------------------------------------------------- oracle

def torch_rnn(x, h0, W_xh, W_hh, b_h, requires_grad=False):
    """torch.nn.RNN (tanh, batch_first) with our weights; bias_ih = b_h, bias_hh = 0.

    Returns (module, x, h0, hs) as float64 tensors, for autograd when requires_grad.
    """
    import torch

    D, H = W_xh.shape[1], W_xh.shape[0]
    rnn = torch.nn.RNN(D, H, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(np.asarray(W_xh, dtype=np.float64)))
        rnn.weight_hh_l0.copy_(torch.from_numpy(np.asarray(W_hh, dtype=np.float64)))
        rnn.bias_ih_l0.copy_(torch.from_numpy(np.asarray(b_h, dtype=np.float64)))
        rnn.bias_hh_l0.zero_()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=requires_grad)
    h0t = torch.tensor(h0, dtype=torch.float64, requires_grad=requires_grad)
    hs, _ = rnn(xt, h0t[None])                        # (N, T, H)
    return rnn, xt, h0t, hs


def _weights(rng, D, H, scale=1.0):
    return dict(W_xh=rng.normal(0, scale / np.sqrt(D), (H, D)),
                W_hh=rng.normal(0, scale / np.sqrt(H), (H, H)),
                b_h=rng.normal(0, 0.5, H))


# --------------------------------------------------------------------------- 4.1

def _step_cases(rng):
    def case(label, N, D, H, scale=1.0):
        return Case(label, dict(x_t=rng.normal(size=(N, D)), h_prev=rng.uniform(-1, 1, (N, H)),
                                **_weights(rng, D, H, scale)))
    return [case("D = H = 4, batch of 3", 3, 4, 4), case("batch of 1", 1, 3, 3),
            case("D = 3, H = 5 (non-square W_xh)", 2, 3, 5), case("D = 6, H = 2", 4, 6, 2),
            case("large inputs: tanh saturates", 3, 4, 5, scale=50.0)]


def _step_mistakes(x_t, h_prev, W_xh, W_hh, b_h):
    return [
        (lambda: np.tanh(x_t @ W_xh + h_prev @ W_hh + b_h),
         "The weights are stored like PyTorch's: W_xh is (H, D), so use x_t @ W_xh.T "
         "(and h_prev @ W_hh.T)."),
        (lambda: x_t @ W_xh.T + h_prev @ W_hh.T + b_h, "Apply tanh to the sum."),
        (lambda: np.tanh(x_t @ W_xh.T + h_prev @ W_hh.T), "The bias b_h is missing."),
        (lambda: np.tanh(x_t @ W_xh.T + b_h), "h_prev is ignored: add W_hh h_{t-1}."),
        (lambda: 1 / (1 + np.exp(-(x_t @ W_xh.T + h_prev @ W_hh.T + b_h))),
         "That is the logistic sigmoid; the recurrence uses tanh."),
    ]


def _step_judge(inputs, got):
    hs = torch_rnn(inputs["x_t"][:, None], inputs["h_prev"], inputs["W_xh"], inputs["W_hh"],
                   inputs["b_h"])[3]                  # T = 1: (N, 1, H)
    ref = hs[:, 0].detach().numpy()
    try:
        expect_array(got, ref, "h_t")
    except Wrong as w:
        w.hint = mistake_hint(got, {}, _step_mistakes(**inputs)) or w.hint
        raise


register(Exercise(
    id="4.1", name="rnn_step", make_cases=_step_cases, judge=_step_judge,
    forbidden=("torch",),
    hint="h_t = tanh(x_t @ W_xh.T + h_prev @ W_hh.T + b_h); W_xh is (H, D) like PyTorch's.",
    summary="compared with torch.nn.RNN, incl. non-square weights and a batch of 1"))


# --------------------------------------------------------------------------- 4.2

def _forward_cases(rng):
    def case(label, N, T, D, H, scale=1.0):
        return Case(label, dict(x=rng.normal(size=(N, T, D)), h0=rng.uniform(-1, 1, (N, H)),
                                **_weights(rng, D, H, scale)))
    return [case("N=2, T=5, D = H = 4", 2, 5, 4, 4), case("batch of 1", 1, 4, 3, 3),
            case("T = 1", 3, 1, 2, 4), case("N=3, T=7, D=3, H=5", 3, 7, 3, 5),
            case("T = 30, strong recurrence", 2, 30, 4, 6, scale=2.0)]


def _forward_mistakes(x, h0, W_xh, W_hh, b_h):
    def loop(x, h, W_xh, W_hh, shift=False):
        out = []
        for t in range(x.shape[1]):
            new = np.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)
            out.append(h if shift else new)
            h = new
        return np.stack(out, axis=1)
    return [
        (lambda: loop(x, h0, W_xh.T, W_hh.T),
         "The weights are stored like PyTorch's: W_xh is (H, D), so use x_t @ W_xh.T."),
        (lambda: loop(x, np.zeros_like(h0), W_xh, W_hh),
         "h0 is ignored: the first step must start from h0, not from zeros."),
        (lambda: loop(x, h0, W_xh, W_hh, shift=True),
         "Off by one: hs[:, t] must be h_{t+1}, the state after reading x[:, t] "
         "(h0 itself is not returned)."),
    ]


def _forward_judge(inputs, got):
    x, h0 = inputs["x"], inputs["h0"]
    N, T, _ = x.shape
    H = h0.shape[1]
    ref = torch_rnn(**inputs)[3].detach().numpy()
    if isinstance(got, np.ndarray) and got.shape != ref.shape:
        shape_hints = {(N, H): "Return every hidden state h_1..h_T stacked as (N, T, H), "
                               "not only the last one.",
                       (N, T + 1, H): "h0 is an input, not part of the output: return h_1..h_T.",
                       (T, N, H): "Batch first: stack the states along axis 1 -> (N, T, H)."}
        if got.shape in shape_hints:
            raise Wrong(f"hs has shape {got.shape}, expected {ref.shape}.", shape_hints[got.shape])
    try:
        expect_array(got, ref, "hs")
    except Wrong as w:
        w.hint = mistake_hint(got, {}, _forward_mistakes(**inputs)) or w.hint
        raise


register(Exercise(
    id="4.2", name="rnn_forward", make_cases=_forward_cases, judge=_forward_judge,
    forbidden=("torch",),
    hint="Loop over t: h = rnn_step(x[:, t], h, ...) starting from h = h0, and store every h.",
    summary="equal to torch.nn.RNN(batch_first=True), incl. T = 1 and a batch of 1"))


# --------------------------------------------------------------------------- 4.3

GRAD_NAMES = ("dx", "dh0", "dW_xh", "dW_hh", "db_h")


def _backward_cases(rng):
    def case(label, N, T, D, H, last_only=False, scale=1.0):
        w = _weights(rng, D, H, scale)
        x, h0 = rng.normal(size=(N, T, D)), rng.uniform(-1, 1, (N, H))
        dhs = rng.normal(size=(N, T, H))
        if last_only:
            dhs[:, :-1] = 0.0
        hs = rnn_forward(x, h0, **w)
        return Case(label, dict(dhs=dhs, x=x, h0=h0, hs=hs, **w))
    return [case("N=2, T=4, D = H = 3", 2, 4, 3, 3),
            case("gradient only at the last state", 3, 6, 2, 4, last_only=True),
            case("batch of 1", 1, 5, 3, 3), case("T = 1", 2, 1, 4, 2),
            case("N=3, T=8, D=4, H=6", 3, 8, 4, 6)]


def _backward_call(answer, dhs, x, h0, hs, W_xh, W_hh, b_h):
    """b_h is not an argument of rnn_backward (hs already holds its effect)."""
    return answer(dhs=dhs, x=x, h0=h0, hs=hs, W_xh=W_xh, W_hh=W_hh)


def _bptt_variant(dhs, x, h0, hs, W_xh, W_hh, b_h, carry=True, deriv="h", prev_in_dW="h_prev",
                  transpose=False):
    """rnn_backward with one known mistake switched on (for the hints)."""
    N, T, H = hs.shape
    dx = np.zeros_like(x)
    dW_xh, dW_hh, db = np.zeros_like(W_xh), np.zeros_like(W_hh), np.zeros(H)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t > 0 else h0
        dh = dhs[:, t] + (dh_next if carry else 0.0)
        a = x[:, t] @ W_xh.T + h_prev @ W_hh.T + b_h
        tanh_prime = {"h": 1 - hs[:, t] ** 2, "a": 1 - a ** 2, "a_nobias": 1 - (a - b_h) ** 2,
                      "tanh_nobias": 1 - np.tanh(a - b_h) ** 2, "none": 1.0,
                      "h_prev": 1 - h_prev ** 2}[deriv]
        da = dh * tanh_prime
        dx[:, t] = da @ W_xh
        dW_xh += da.T @ x[:, t]
        dW_hh += da.T @ (hs[:, t] if prev_in_dW == "h_t" else h_prev)
        db += da.sum(axis=0)
        dh_next = da @ W_hh
    grads = [dx, dh_next, dW_xh, dW_hh, db]
    if transpose:
        grads[2], grads[3] = dW_xh.T, dW_hh.T
    return grads


_BACKWARD_MISTAKES = [
    (dict(carry=False), "The gradient is not carried back through h_{t-1}: at step t, add "
     "what h_{t+1} sends back (da_{t+1} @ W_hh) to dhs[:, t]."),
    (dict(deriv="a"), "tanh'(a_t) = 1 - tanh(a_t)^2 = 1 - h_t^2: take it via h_t, not as "
     "1 - a_t^2 at the pre-activation."),
    (dict(deriv="a_nobias"), "tanh'(a_t) = 1 - h_t^2: take it via h_t, not at the "
     "pre-activation."),
    (dict(deriv="tanh_nobias"), "Recomputing the pre-activation misses b_h: take "
     "tanh'(a_t) = 1 - h_t^2 straight from hs."),
    (dict(deriv="h_prev"), "Off by one: the tanh derivative at step t is 1 - h_t^2 "
     "(hs[:, t]), not 1 - h_{t-1}^2."),
    (dict(deriv="none"), "Multiply by tanh'(a_t) = 1 - h_t^2 before passing the gradient on."),
    (dict(prev_in_dW="h_t"), "dW_hh pairs da_t with the previous state h_{t-1} "
     "(h0 at the first step), not with h_t."),
    (dict(transpose=True), "Weight gradients have the weights' shapes: dW_xh = sum_t "
     "da_t^T x_t is (H, D)."),
]


def _backward_judge(inputs, got):
    import torch

    rnn, xt, h0t, hs = torch_rnn(inputs["x"], inputs["h0"], inputs["W_xh"], inputs["W_hh"],
                                 inputs["b_h"], requires_grad=True)
    (hs * torch.from_numpy(inputs["dhs"])).sum().backward()     # L = sum_t <dhs_t, h_t>
    ref = [xt.grad.numpy(), h0t.grad.numpy(), rnn.weight_ih_l0.grad.numpy(),
           rnn.weight_hh_l0.grad.numpy(), rnn.bias_ih_l0.grad.numpy()]
    if isinstance(got, (TensorData, Foreign)) or not isinstance(got, (tuple, list)):
        raise Wrong(f"returned {describe(got)}, expected a tuple of 5 arrays "
                    f"({', '.join(GRAD_NAMES)}).", "return dx, dh0, dW_xh, dW_hh, db_h")
    if len(got) != 5:
        raise Wrong(f"returned {len(got)} values, expected 5 ({', '.join(GRAD_NAMES)}).",
                    "return dx, dh0, dW_xh, dW_hh, db_h")
    for k, name in enumerate(GRAD_NAMES):
        if name == "db_h" and isinstance(got[k], np.ndarray) and got[k].ndim > 1:
            raise Wrong(f"db_h has shape {got[k].shape}, expected {ref[k].shape}.",
                        "b_h is shared by every example and every step: sum da over both.")
        try:
            expect_array(got[k], ref[k], name)
        except Wrong as w:
            for change, hint in _BACKWARD_MISTAKES:
                alt = _bptt_variant(**inputs, **change)[k]
                if isinstance(got[k], np.ndarray) and got[k].shape == alt.shape \
                        and np.allclose(got[k], alt):
                    w.hint = hint
                    break
            raise


register(Exercise(
    id="4.3", name="rnn_backward", make_cases=_backward_cases, judge=_backward_judge,
    call=_backward_call, forbidden=("torch",),
    hint="Go backwards in time: dh = dhs[:, t] + dh_next; da = dh * (1 - hs[:, t]**2); "
         "dh_next = da @ W_hh.",
    summary="against autograd through torch.nn.RNN, incl. a gradient only at the last state"))


# --------------------------------------------------------------------------- 4.4

def two_char_model(chars, first, second):
    """A fixed character model for the check: the next character depends on the last two.

    ``logits[0, t] = first[ids[t]] + second[ids[t-1]]`` (no second term at t = 0), with
    first, second (V, V). It follows the model contract of :mod:`course.language_model`:
    ``.chars`` and ``model(ids (1, T) int64) -> logits (1, T, V)``; it has no memory
    between calls, like any model called on the whole text so far.
    """
    import torch

    class TwoCharModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.chars = chars
            self.first = torch.nn.Parameter(torch.tensor(first, dtype=torch.float32),
                                            requires_grad=False)
            self.second = torch.nn.Parameter(torch.tensor(second, dtype=torch.float32),
                                             requires_grad=False)

        def forward(self, ids):
            if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long \
                    or ids.ndim != 2 or ids.shape[1] == 0:
                what = (f"a tensor of shape {tuple(ids.shape)} and dtype {ids.dtype}"
                        if isinstance(ids, torch.Tensor) else f"a {type(ids).__name__}")
                raise TypeError(f"the model takes a (1, T) LongTensor of ids (T >= 1), got {what}")
            logits = self.first[ids]                             # (1, T, V)
            return torch.cat([logits[:, :1], logits[:, 1:] + self.second[ids[:, :-1]]], dim=1)

    return TwoCharModel()


def _sample_call(answer, chars, first, second, prompt, n_chars, temperature, seed, twice=False):
    import torch

    model = two_char_model(chars, first, second)

    def run():
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        return answer(model, prompt, n_chars, temperature=temperature, generator=generator)

    return (run(), run()) if twice else run()


def _tables(rng, V, temperature, min_gap=0.15, max_prob=0.85):
    """Random logit tables (first, second), each (V, V), fit for a case at ``temperature``.

    The argmax is clear in every context (a gap of at least ``min_gap``), and when sampling
    at ``temperature`` >= 0.01 no context is nearly deterministic (every probability at most
    ``max_prob``), so that a correct sampler cannot look like the argmax by chance.
    """
    scale = 1.0 if temperature < 0.01 else min(1.0, temperature)
    while True:
        first = rng.normal(0, 1.5 * scale, (V, V)).astype(np.float32)
        second = rng.normal(0, 1.0 * scale, (V, V)).astype(np.float32)
        contexts = np.concatenate([(first[None, :, :] + second[:, None, :]).reshape(-1, V),
                                   first])                          # every (c2, c1), and c1 alone
        top2 = np.sort(contexts, axis=1)[:, -2:]
        if np.any(top2[:, 1] - top2[:, 0] < min_gap):
            continue
        if temperature >= 0.01 and _probs(contexts, temperature).max() > max_prob:
            continue
        return first, second


def _sample_cases(rng):
    chars = "".join(rng.permutation(list("abcdefgh"))[:3])
    V = len(chars)

    def case(label, prompt_len, n_chars, temperature, seed, twice=False):
        while True:
            first, second = _tables(rng, V, temperature)
            prompt = "".join(rng.choice(list(chars), prompt_len))
            ids = [chars.index(c) for c in prompt]
            chains = {tuple(_greedy(first, second, ids, n_chars, mode))
                      for mode in ("right", "last_only", "first_position")}
            if temperature >= 0.01 or len(chains) == 3:     # each mistake shows differently
                break
        return Case(label, dict(chars=chars, first=first, second=second, prompt=prompt,
                                n_chars=n_chars, temperature=temperature, seed=seed, twice=twice))
    return [case("temperature 1e-3 is the argmax", 1, 40, 1e-3, 0),
            case("temperature 1: 400 draws follow the model", 3, 400, 1.0, 1),
            case("temperature 2: 400 draws", 2, 400, 2.0, 2),
            case("temperature 0.5: 400 draws", 5, 400, 0.5, 3),
            case("the same seed twice gives the same text", 2, 30, 1.0, 5, twice=True),
            case("generator=None", 2, 10, 1.0, None),
            case("n_chars = 0", 4, 0, 1.0, 4)]


def _probs(logits, temperature):
    z = np.asarray(logits, np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def _next_logits(first, second, context, mode="right"):
    """The logits a sampler gets for the character after ``context`` (a list of ids).

    mode "right": the model sees the whole context; "last_only": the sampler passes only
    the last character; "first_position": it reads logits[0, 0] instead of logits[0, -1].
    """
    if mode == "first_position":
        return first[context[0]]
    if mode == "last_only" or len(context) < 2:
        return first[context[-1]]
    return first[context[-1]] + second[context[-2]]


def _greedy(first, second, prompt_ids, n, mode="right"):
    seq = list(prompt_ids)
    for _ in range(n):
        seq.append(int(np.argmax(_next_logits(first, second, seq, mode))))
    return seq


def _fit(first, second, seq, start, temperature, mode="right", scale="divide"):
    """How well the model explains the characters seq[start:]: (log-likelihood, G-test p-value).

    scale "divide" is softmax(logits / T); "multiply" softmax(logits * T); "ignore" softmax(logits).
    """
    import torch

    t = {"divide": temperature, "multiply": 1.0 / temperature, "ignore": 1.0}[scale]
    V = first.shape[0]
    counts: dict[tuple, np.ndarray] = {}
    probs: dict[tuple, np.ndarray] = {}
    for i in range(start, len(seq)):
        logits = _next_logits(first, second, seq[:i], mode)
        key = tuple(np.round(logits, 5))
        probs[key] = _probs(logits, t)
        counts.setdefault(key, np.zeros(V))[seq[i]] += 1
    G, df, loglik = 0.0, 0, 0.0
    for key, O in counts.items():
        E = O.sum() * probs[key]
        seen = O > 0
        if np.any(seen & (E < 1e-9)):
            return -np.inf, 0.0                          # a draw the model all but forbids
        G += 2 * np.sum(O[seen] * np.log(O[seen] / E[seen]))
        loglik += np.sum(O[seen] * np.log(probs[key][seen]))
        df += V - 1
    if not df:
        return loglik, 1.0
    # chi-square survival function: the regularised upper incomplete gamma Q(df/2, G/2)
    return loglik, float(torch.special.gammaincc(torch.tensor(df / 2, dtype=torch.float64),
                                                 torch.tensor(G / 2, dtype=torch.float64)))


_SAMPLE_MISTAKES = [
    (dict(scale="multiply"), "The temperature multiplies the logits; divide them by it: "
     "softmax(logits / temperature)."),
    (dict(scale="ignore"), "The temperature has no effect: sample from "
     "softmax(logits / temperature)."),
    (dict(mode="last_only"), "The model has no memory between calls: give it the whole "
     "sequence so far (prompt + generated ids) every time and use the last position."),
    (dict(mode="first_position"), "Use the logits at the last position, logits[0, -1]: "
     "they predict the next character."),
]


def _likeliest_mistake(first, second, seq, start, tau):
    """The hint of the known mistake that explains seq best, if one explains it at all.

    Among the mistakes whose G-test does not reject seq (p > 1e-4), the likeliest wins.
    """
    best, best_loglik = None, -np.inf
    for change, hint in _SAMPLE_MISTAKES:
        if "scale" in change and tau == 1.0:
            continue                                     # indistinguishable at T = 1
        if tau < 0.01 and "mode" in change:
            greedy = _greedy(first, second, seq[:start], len(seq) - start, **change)
            loglik, p = (0.0, 1.0) if seq == greedy else (-np.inf, 0.0)
        else:
            loglik, p = _fit(first, second, seq, start, tau, **change)
        if p > 1e-4 and loglik > best_loglik:
            best, best_loglik = hint, loglik
    return best


def _sample_judge(inputs, got):
    chars, prompt, n = inputs["chars"], inputs["prompt"], inputs["n_chars"]
    first, second = np.asarray(inputs["first"]), np.asarray(inputs["second"])
    tau = inputs["temperature"]
    if inputs["twice"] and isinstance(got, tuple) and len(got) == 2:
        if isinstance(got[0], str) and got[0] != got[1]:
            raise Wrong("two runs with generators seeded alike gave different text.",
                        "Draw with torch.multinomial(probs, 1, generator=generator) so that a "
                        "seeded generator makes sampling repeatable.")
        got = got[0]
    if not isinstance(got, str):
        raise Wrong(f"returned {describe(got)}, expected a str (the prompt followed by the "
                    "generated characters).",
                    "Decode the ids: ''.join(model.chars[i] for i in ids).")
    if len(got) == n and prompt:
        raise Wrong(f"the text has {len(got)} characters: n_chars, without the prompt "
                    f"{prompt!r}.", "Keep the prompt: return prompt + the generated characters.")
    if not got.startswith(prompt):
        raise Wrong(f"the text {got[:20]!r} does not start with the prompt {prompt!r}.",
                    "Keep the prompt: return prompt + the generated characters.")
    if len(got) != len(prompt) + n:
        raise Wrong(f"the text has {len(got)} characters, expected len(prompt) + n_chars = "
                    f"{len(prompt) + n}.", "Generate exactly n_chars new characters.")
    if any(c not in chars for c in got):
        raise Wrong("the text holds characters outside model.chars.")
    seq = [chars.index(c) for c in got]
    start = len(prompt)
    if n == 0:
        return
    if tau < 0.01:
        if seq != _greedy(first, second, seq[:start], n):
            raise Wrong(f"at temperature {tau:g} every character should be the most likely one; "
                        f"got {got!r}.", _likeliest_mistake(first, second, seq, start, tau)
                        or "As the temperature goes to 0, softmax(logits / temperature) puts "
                           "all its mass on the argmax. Divide the logits, not the "
                           "probabilities' logs or powers: p ** (1 / T) underflows to 0.")
        return
    if n < 100:
        return                                           # too few draws to test frequencies
    if seq == _greedy(first, second, seq[:start], n):
        raise Wrong(f"at temperature {tau:g} the text is the most likely character every time.",
                    "Draw the next character at random from the probabilities "
                    "(torch.multinomial); do not take the argmax.")
    _, p = _fit(first, second, seq, start, tau)
    if p < 1e-6:
        raise Wrong(f"at temperature {tau:g} the characters do not follow the model's "
                    f"distribution (G-test p = {p:.1e} over {n} draws).",
                    _likeliest_mistake(first, second, seq, start, tau)
                    or "Sample from softmax(logits[0, -1] / temperature), given the whole text "
                       "so far.")


register(Exercise(
    id="4.4", name="sample", make_cases=_sample_cases, judge=_sample_judge, call=_sample_call,
    hint="Each step: logits = model(ids)[0, -1]; probs = softmax(logits / temperature); "
         "draw one id with torch.multinomial(probs, 1, generator=generator); append it.",
    summary="incl. temperature 1e-3 (argmax), 0.5, 1 and 2 against the model's distribution"))


# --------------------------------------------------------------------------- 4.5

GATES = "ifgo"                                    # PyTorch's order of the four row blocks


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))         # = 1 / (1 + exp(-z)), without overflow


def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """One LSTM step with PyTorch's layout -> (h_t, c_t), each (N, H).

    x_t (N, D), h_prev and c_prev (N, H), W_ih (4H, D), W_hh (4H, H), b_ih and b_hh (4H,).
    The pre-activations a = x_t W_ih^T + h_prev W_hh^T + b_ih + b_hh (N, 4H) are four blocks
    of H columns in the order i, f, g, o (as ``torch.nn.LSTMCell``):

        i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o),   g = tanh(a_g)
        c_t = f * c_prev + i * g,                              h_t = o * tanh(c_t)
    """
    H = h_prev.shape[1]
    a = x_t @ W_ih.T + h_prev @ W_hh.T + b_ih + b_hh              # (N, 4H)
    i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))       # 4 x (N, H)
    c_t = _sigmoid(f) * c_prev + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c_t), c_t


def torch_lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    """The oracle: torch.nn.LSTMCell in float64 with these weights -> (h_t, c_t) as NumPy."""
    import torch

    D, H = W_ih.shape[1], W_hh.shape[1]
    cell = torch.nn.LSTMCell(D, H, dtype=torch.float64)
    with torch.no_grad():
        for param, value in ((cell.weight_ih, W_ih), (cell.weight_hh, W_hh),
                             (cell.bias_ih, b_ih), (cell.bias_hh, b_hh)):
            param.copy_(torch.from_numpy(np.asarray(value, dtype=np.float64)))
        x, h, c = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (x_t, h_prev, c_prev))
        h, c = cell(x, (h, c))
    return h.numpy(), c.numpy()


def _lstm_cases(rng):
    def case(label, N, D, H, scale=1.0):
        return Case(label, dict(x_t=rng.normal(size=(N, D)), h_prev=rng.uniform(-1, 1, (N, H)),
                                c_prev=rng.normal(0, 1.5, (N, H)),     # |c| > 1: tanh(c_t) shows
                                W_ih=rng.normal(0, scale / np.sqrt(D), (4 * H, D)),
                                W_hh=rng.normal(0, scale / np.sqrt(H), (4 * H, H)),
                                b_ih=rng.normal(0, 0.5, 4 * H), b_hh=rng.normal(0, 0.5, 4 * H)))
    return [case("D = H = 4, batch of 3", 3, 4, 4), case("batch of 1", 1, 3, 3),
            case("D = 3, H = 5 (W_ih is (20, 3))", 2, 3, 5), case("D = 7, H = 2", 4, 7, 2),
            case("large pre-activations (|a| > 100): the gates saturate", 3, 5, 4,
                 scale=40.0)]


def _lstm_variant(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, order="ifgo", g_act="tanh",
                  cell="right", tanh_c=True, biases=2):
    """What a known mistake computes: lstm_step with one thing changed."""
    H = h_prev.shape[1]
    a = x_t @ W_ih.T + h_prev @ W_hh.T + b_ih + (b_hh if biases == 2 else 0.0)
    blocks = {name: a[:, k * H:(k + 1) * H] for k, name in enumerate(order)}
    i, f, o = _sigmoid(blocks["i"]), _sigmoid(blocks["f"]), _sigmoid(blocks["o"])
    g = np.tanh(blocks["g"]) if g_act == "tanh" else _sigmoid(blocks["g"])
    c_t = {"right": f * c_prev + i * g,
           "f_on_g": i * c_prev + f * g,                   # the gates' roles swapped
           "f_on_both": f * (c_prev + i * g),              # the candidate forgotten too
           "no_i": c_prev + f * g}[cell]
    return (o * np.tanh(c_t) if tanh_c else o * c_t), c_t


_FORGET_HINT = ("The forget gate multiplies the previous cell only, and the input gate the "
                "candidate: c_t = f_t * c_prev + i_t * g_t.")
_LSTM_MISTAKES = [
    (dict(tanh_c=False), "h_t = o_t * tanh(c_t): squash the new cell with tanh before the "
     "output gate."),
    (dict(g_act="sigmoid"), "The candidate g_t uses tanh (values in (-1, 1)), not a sigmoid: "
     "only i, f and o are gates."),
    (dict(cell="f_on_g"), _FORGET_HINT),
    (dict(cell="f_on_both"), _FORGET_HINT),
    (dict(cell="no_i"), _FORGET_HINT),
    (dict(biases=1), "PyTorch has two bias vectors: add both b_ih and b_hh."),
]


def _lstm_judge(inputs, got):
    h_ref, c_ref = torch_lstm_cell(**inputs)
    if not isinstance(got, (tuple, list)) or isinstance(got, str):
        raise Wrong(f"returned {describe(got)}, expected a pair (h_t, c_t).",
                    "End with `return h_t, c_t`.")
    if len(got) != 2:
        raise Wrong(f"returned {len(got)} values, expected 2: (h_t, c_t).",
                    "End with `return h_t, c_t`.")
    h, c = got
    close = dict(rtol=1e-6, atol=1e-9)
    for value, ref, name in ((h, h_ref, "h_t"), (c, c_ref, "c_t")):
        try:
            expect_array(value, ref, name, **close)
        except Wrong as w:
            w.message = w.message.replace("the reference", "nn.LSTMCell")
            w.hint = _lstm_mistake(inputs, h, c, h_ref, c_ref) or w.hint
            raise


def _lstm_mistake(inputs, h, c, h_ref, c_ref):
    """The hint of the known mistake that (h, c) matches, if any."""
    def same(a, b):
        return isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype.kind == "f" \
            and np.all(np.isfinite(a)) and np.allclose(a, b, rtol=1e-6, atol=1e-9)

    if same(h, c_ref) and same(c, h_ref):
        return "Return the hidden state first: (h_t, c_t), not (c_t, h_t)."
    for change, text in _LSTM_MISTAKES:
        h_m, c_m = _lstm_variant(**inputs, **change)
        if same(h, h_m) and same(c, c_m):
            return text
    for order in ("".join(p) for p in itertools.permutations(GATES)):
        h_m, c_m = _lstm_variant(**inputs, order=order)
        if order != GATES and same(h, h_m) and same(c, c_m):
            return (f"Your gates are in the order ({', '.join(order)}); PyTorch's rows are "
                    "i, f, g, o: a[:, :H] is the input gate, a[:, H:2H] the forget gate, "
                    "a[:, 2H:3H] the candidate g, a[:, 3H:] the output gate.")
    return None


register(Exercise(
    id="4.5", name="lstm_step", make_cases=_lstm_cases, judge=_lstm_judge,
    forbidden=("torch",),
    hint="a = x_t @ W_ih.T + h_prev @ W_hh.T + b_ih + b_hh, split into i, f, g, o blocks of H "
         "columns; c_t = σ(f)·c_prev + σ(i)·tanh(g); h_t = σ(o)·tanh(c_t).",
    summary="equal to torch.nn.LSTMCell with the same weights, incl. a batch of 1 and "
            "saturated gates"))
