"""Chapter 04: each check accepts the reference and rejects the mistakes issues 7 and 12 list."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course.exercises import rnn as ref
from tests.helpers import assert_fails, assert_passes


# --------------------------------------------------------------------------- 4.1 rnn_step

def test_step_reference_passes():
    assert_passes("rnn_step", ref.rnn_step)


def test_step_transposed_weights():
    assert_fails("rnn_step", lambda x_t, h_prev, W_xh, W_hh, b_h:
                 np.tanh(x_t @ W_xh + h_prev @ W_hh + b_h), "W_xh.T")


def test_step_no_tanh():
    assert_fails("rnn_step", lambda x_t, h_prev, W_xh, W_hh, b_h:
                 x_t @ W_xh.T + h_prev @ W_hh.T + b_h, "tanh")


def test_step_no_bias():
    assert_fails("rnn_step", lambda x_t, h_prev, W_xh, W_hh, b_h:
                 np.tanh(x_t @ W_xh.T + h_prev @ W_hh.T), "bias")


def test_step_h_prev_ignored():
    assert_fails("rnn_step", lambda x_t, h_prev, W_xh, W_hh, b_h:
                 np.tanh(x_t @ W_xh.T + b_h), "h_prev is ignored")


def test_step_uses_torch():
    def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
        import torch
        return torch.tanh(torch.from_numpy(x_t @ W_xh.T + h_prev @ W_hh.T + b_h)).numpy()
    assert_fails("rnn_step", rnn_step, "torch")


@pytest.mark.parametrize("bad, phrase", [
    (lambda **k: None, "None"),
    (lambda **k: ref.rnn_step(**k).tolist(), "list"),
    (lambda **k: torch.from_numpy(ref.rnn_step(**k)), "torch.Tensor"),
    (lambda **k: ref.rnn_step(**k).astype(np.float32), "float64"),
    (lambda **k: ref.rnn_step(**k)[0], "shape"),
    (lambda **k: ref.rnn_step(**k) * np.nan, "NaN"),
])
def test_step_bad_returns(bad, phrase):
    assert_fails("rnn_step", lambda x_t, h_prev, W_xh, W_hh, b_h:
                 bad(x_t=x_t, h_prev=h_prev, W_xh=W_xh, W_hh=W_hh, b_h=b_h), phrase)


# --------------------------------------------------------------------------- 4.2 rnn_forward

def _loop(x, h, W_xh, W_hh, b_h, keep_h0=False, last_only=False):
    out = [h] if keep_h0 else []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W_xh.T + h @ W_hh.T + b_h)
        out.append(h)
    return h if last_only else np.stack(out, axis=1)


def test_forward_reference_passes():
    assert_passes("rnn_forward", ref.rnn_forward)


def test_forward_transposed_weights():
    assert_fails("rnn_forward", lambda x, h0, W_xh, W_hh, b_h: _loop(x, h0, W_xh.T, W_hh.T, b_h),
                 "W_xh.T")


def test_forward_h0_ignored():
    assert_fails("rnn_forward", lambda x, h0, W_xh, W_hh, b_h:
                 _loop(x, np.zeros_like(h0), W_xh, W_hh, b_h), "h0 is ignored")


def test_forward_only_last_state():
    assert_fails("rnn_forward", lambda x, h0, W_xh, W_hh, b_h:
                 _loop(x, h0, W_xh, W_hh, b_h, last_only=True), "every hidden state")


def test_forward_includes_h0():
    assert_fails("rnn_forward", lambda x, h0, W_xh, W_hh, b_h:
                 _loop(x, h0, W_xh, W_hh, b_h, keep_h0=True), "h_1..h_T")


def test_forward_off_by_one():
    assert_fails("rnn_forward", lambda x, h0, W_xh, W_hh, b_h:
                 _loop(x, h0, W_xh, W_hh, b_h, keep_h0=True)[:, :-1], "off by one")


def test_forward_time_major():
    assert_fails("rnn_forward", lambda x, h0, W_xh, W_hh, b_h:
                 _loop(x, h0, W_xh, W_hh, b_h).transpose(1, 0, 2), "batch first")


def test_forward_uses_torch_rnn():
    def rnn_forward(x, h0, W_xh, W_hh, b_h):
        import torch
        rnn = torch.nn.RNN(x.shape[2], h0.shape[1], batch_first=True, dtype=torch.float64)
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(torch.from_numpy(W_xh))
            rnn.weight_hh_l0.copy_(torch.from_numpy(W_hh))
            rnn.bias_ih_l0.copy_(torch.from_numpy(b_h))
            rnn.bias_hh_l0.zero_()
        return rnn(torch.from_numpy(x), torch.from_numpy(h0)[None])[0].detach().numpy()
    assert_fails("rnn_forward", rnn_forward, "torch")


def test_forward_modifies_input():
    def rnn_forward(x, h0, W_xh, W_hh, b_h):
        h0 *= 1.0
        x[:] = x
        hs = ref.rnn_forward(x, h0, W_xh, W_hh, b_h)
        h0[:] = 0.0
        return hs
    assert_fails("rnn_forward", rnn_forward, "in place")


@pytest.mark.parametrize("bad, phrase", [
    (lambda **k: None, "None"),
    (lambda **k: list(ref.rnn_forward(**k)), "list"),
    (lambda **k: torch.from_numpy(ref.rnn_forward(**k)), "torch.Tensor"),
])
def test_forward_bad_returns(bad, phrase):
    assert_fails("rnn_forward", lambda x, h0, W_xh, W_hh, b_h:
                 bad(x=x, h0=h0, W_xh=W_xh, W_hh=W_hh, b_h=b_h), phrase)


# --------------------------------------------------------------------------- 4.3 rnn_backward

def _variant(**change):
    """rnn_backward with one mistake; b_h is recovered as the learner might (not given)."""
    def rnn_backward(dhs, x, h0, hs, W_xh, W_hh):
        b_h = np.zeros(W_hh.shape[0])           # the learner has no b_h
        return tuple(ref._bptt_variant(dhs, x, h0, hs, W_xh, W_hh, b_h, **change))
    return rnn_backward


def test_backward_reference_passes():
    assert_passes("rnn_backward", ref.rnn_backward)


def test_backward_not_carried_through_time():
    assert_fails("rnn_backward", _variant(carry=False), "not carried back through h_{t-1}")


def test_backward_tanh_derivative_at_preactivation():
    # 1 - a_t^2 with a_t recomputed (without b_h, which rnn_backward does not receive)
    assert_fails("rnn_backward", _variant(deriv="a"), "pre-activation")


def test_backward_tanh_recomputed_without_bias():
    assert_fails("rnn_backward", _variant(deriv="tanh_nobias"), "misses b_h")


def test_backward_tanh_derivative_of_previous_state():
    assert_fails("rnn_backward", _variant(deriv="h_prev"), "off by one")


def test_backward_no_tanh_derivative():
    assert_fails("rnn_backward", _variant(deriv="none"), "1 - h_t^2")


def test_backward_dW_hh_with_h_t():
    assert_fails("rnn_backward", _variant(prev_in_dW="h_t"), "h_{t-1}")


def test_backward_transposed_weight_gradients():
    assert_fails("rnn_backward", _variant(transpose=True), "weights' shapes")


def test_backward_db_not_summed_over_batch():
    def rnn_backward(dhs, x, h0, hs, W_xh, W_hh):
        dx, dh0, dW_xh, dW_hh, _ = ref.rnn_backward(dhs, x, h0, hs, W_xh, W_hh)
        da = dhs * (1 - hs ** 2)
        return dx, dh0, dW_xh, dW_hh, da.sum(axis=1)
    assert_fails("rnn_backward", rnn_backward, "sum da over both")


def test_backward_missing_dh0():
    def rnn_backward(dhs, x, h0, hs, W_xh, W_hh):
        dx, dh0, dW_xh, dW_hh, db = ref.rnn_backward(dhs, x, h0, hs, W_xh, W_hh)
        return dx, dW_xh, dW_hh, db
    assert_fails("rnn_backward", rnn_backward, "expected 5")


def test_backward_zero_dh0():
    def rnn_backward(dhs, x, h0, hs, W_xh, W_hh):
        dx, dh0, dW_xh, dW_hh, db = ref.rnn_backward(dhs, x, h0, hs, W_xh, W_hh)
        return dx, np.zeros_like(dh0), dW_xh, dW_hh, db
    assert_fails("rnn_backward", rnn_backward, "dh0")


def test_backward_uses_autograd():
    def rnn_backward(dhs, x, h0, hs, W_xh, W_hh):
        import torch
        return ref.rnn_backward(dhs, x, h0, hs, W_xh, W_hh) if torch else None
    assert_fails("rnn_backward", rnn_backward, "torch")


@pytest.mark.parametrize("bad, phrase", [
    (lambda g: None, "tuple of 5"),
    (lambda g: tuple(torch.from_numpy(a) for a in g), "torch.Tensor"),
    (lambda g: g[:1] + (g[1] * np.nan,) + g[2:], "NaN"),
    (lambda g: tuple(a.astype(np.float32) for a in g), "float64"),
])
def test_backward_bad_returns(bad, phrase):
    assert_fails("rnn_backward", lambda dhs, x, h0, hs, W_xh, W_hh:
                 bad(ref.rnn_backward(dhs, x, h0, hs, W_xh, W_hh)), phrase)


# --------------------------------------------------------------------------- 4.4 sample

def _sampler(scale="divide", argmax=False, keep_prompt=True, last_only=False, position=-1,
             use_generator=True, extra=0):
    """sample() with one mistake switched on."""
    def sample(model, prompt, n_chars, temperature=1.0, generator=None):
        ids = [model.chars.index(c) for c in prompt]
        for _ in range(n_chars + extra):
            inp = ids[-1:] if last_only else ids
            logits = model(torch.tensor([inp]))[0, position].double()
            z = {"divide": logits / temperature, "multiply": logits * temperature,
                 "ignore": logits}[scale]
            if argmax:
                ids.append(int(z.argmax()))
                continue
            probs = torch.softmax(z, dim=-1)
            ids.append(int(torch.multinomial(probs, 1, generator=generator if use_generator
                                             else None)))
        text = "".join(model.chars[i] for i in ids)
        return text if keep_prompt else text[len(prompt):]
    return sample


def test_sample_reference_passes():
    assert_passes("sample", ref.sample)


def test_sample_variant_without_mistakes_passes():
    assert_passes("sample", _sampler())


def test_sample_temperature_multiplies():
    assert_fails("sample", _sampler(scale="multiply"), "divide")


def test_sample_temperature_ignored():
    assert_fails("sample", _sampler(scale="ignore"), "temperature has no effect")


def test_sample_always_argmax():
    assert_fails("sample", _sampler(argmax=True), "argmax")


def test_sample_prompt_dropped():
    assert_fails("sample", _sampler(keep_prompt=False), "keep the prompt")


def test_sample_one_too_many():
    assert_fails("sample", _sampler(extra=1), "n_chars")


def test_sample_model_fed_only_last_character():
    assert_fails("sample", _sampler(last_only=True), "whole sequence")


def test_sample_first_position_logits():
    assert_fails("sample", _sampler(position=0), "logits[0, -1]")


def test_sample_generator_ignored():
    assert_fails("sample", _sampler(use_generator=False), "generator")


def test_sample_returns_ids():
    def sample(model, prompt, n_chars, temperature=1.0, generator=None):
        text = ref.sample(model, prompt, n_chars, temperature, generator)
        return [model.chars.index(c) for c in text]
    assert_fails("sample", sample, "expected a str")


def test_sample_numpy_rng():
    def sample(model, prompt, n_chars, temperature=1.0, generator=None):
        rng = np.random.default_rng()
        ids = [model.chars.index(c) for c in prompt]
        for _ in range(n_chars):
            p = torch.softmax(model(torch.tensor([ids]))[0, -1].double() / temperature, -1).numpy()
            ids.append(int(rng.choice(len(p), p=p)))
        return "".join(model.chars[i] for i in ids)
    assert_fails("sample", sample, "generator")


def test_sample_model_contract():
    rng = np.random.default_rng(0)
    first, second = ref._tables(rng, 3, 1.0)
    model = ref.two_char_model("xyz", first, second)
    logits = model(torch.tensor([[0, 2, 1]]))
    assert logits.shape == (1, 3, 3)
    torch.testing.assert_close(logits[0, 2], torch.tensor(first[1] + second[2]))
    torch.testing.assert_close(logits[0, 0], torch.tensor(first[0]))
    with pytest.raises(TypeError, match=r"\(1, T\) LongTensor"):
        model(torch.tensor([0, 1]))


def _inverse_cdf_sample(model, prompt, n_chars, temperature=1.0, generator=None, power=False):
    """A correct sampler that draws differently: inverse CDF of a uniform draw, float32.

    With power=True it reshapes probabilities as p ** (1/T): right in exact arithmetic, but
    it underflows at tiny temperatures.
    """
    ids = [model.chars.index(c) for c in prompt]
    for _ in range(n_chars):
        logits = model(torch.tensor([ids]))[0, -1]
        probs = (torch.softmax(logits, dim=-1) ** (1.0 / temperature) if power
                 else torch.softmax(logits / temperature, dim=-1))
        cdf = torch.cumsum(probs, dim=0)
        u = torch.rand(1, generator=generator) * cdf[-1]
        ids.append(min(int(torch.searchsorted(cdf, u)), len(cdf) - 1))
    return "".join(model.chars[i] for i in ids)


def test_sample_probabilities_to_a_power_underflow():
    assert_fails("sample", lambda model, prompt, n_chars, temperature=1.0, generator=None:
                 _inverse_cdf_sample(model, prompt, n_chars, temperature, generator, power=True),
                 "underflow")


def _float32_sample(model, prompt, n_chars, temperature=1.0, generator=None):
    ids = torch.tensor([[model.chars.index(c) for c in prompt]])
    for _ in range(n_chars):
        probs = F.softmax(model(ids)[:, -1] / temperature, dim=-1)           # (1, V) float32
        ids = torch.cat([ids, torch.multinomial(probs, 1, generator=generator)], dim=1)
    return "".join(model.chars[i] for i in ids[0].tolist())


@pytest.mark.parametrize("answer", [_inverse_cdf_sample, _float32_sample])
def test_sample_other_correct_samplers_pass(answer):
    assert_passes("sample", answer, seeds=range(6))


# --------------------------------------------------------------------------- 4.5 lstm_step

def _lstm(**change):
    def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
        return ref._lstm_variant(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, **change)
    return lstm_step


def test_lstm_reference_passes():
    assert_passes("lstm_step", ref.lstm_step)
    assert_passes("lstm_step", _lstm())


def test_lstm_reference_equals_nn_lstmcell_on_its_own():
    rng = np.random.default_rng(3)
    N, D, H = 2, 3, 4
    args = dict(x_t=rng.normal(size=(N, D)), h_prev=rng.normal(size=(N, H)),
                c_prev=rng.normal(size=(N, H)), W_ih=rng.normal(size=(4 * H, D)),
                W_hh=rng.normal(size=(4 * H, H)), b_ih=rng.normal(size=4 * H),
                b_hh=rng.normal(size=4 * H))
    cell = torch.nn.LSTMCell(D, H, dtype=torch.float64)
    with torch.no_grad():
        for name in ("W_ih", "W_hh", "b_ih", "b_hh"):
            attr = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}[name]
            getattr(cell, attr).copy_(torch.from_numpy(args[name]))
        h, c = cell(torch.from_numpy(args["x_t"]),
                    (torch.from_numpy(args["h_prev"]), torch.from_numpy(args["c_prev"])))
    mine = ref.lstm_step(**args)
    np.testing.assert_allclose(mine[0], h.numpy(), rtol=1e-12)
    np.testing.assert_allclose(mine[1], c.numpy(), rtol=1e-12)


@pytest.mark.parametrize("order", ["ifog", "fiog", "igfo", "oifg", "gifo"])
def test_lstm_gates_in_another_order(order):
    assert_fails("lstm_step", _lstm(order=order), "order", "i, f, g, o")


def test_lstm_tanh_missing_on_the_cell():
    assert_fails("lstm_step", _lstm(tanh_c=False), "tanh(c_t)")


def test_lstm_sigmoid_on_the_candidate():
    assert_fails("lstm_step", _lstm(g_act="sigmoid"), "candidate", "tanh")


@pytest.mark.parametrize("cell", ["f_on_g", "f_on_both", "no_i"])
def test_lstm_forget_gate_applied_to_the_candidate(cell):
    assert_fails("lstm_step", _lstm(cell=cell), "forget gate multiplies the previous cell only")


def test_lstm_one_bias_only():
    assert_fails("lstm_step", _lstm(biases=1), "b_ih and b_hh")


def test_lstm_returns_c_then_h():
    assert_fails("lstm_step", lambda **k: ref.lstm_step(**k)[::-1], "hidden state first")


def test_lstm_weights_not_transposed():
    def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
        return ref.lstm_step(x_t, h_prev, c_prev, W_ih.T.T, W_hh, b_ih, b_hh)
    assert_passes("lstm_step", lstm_step)           # a no-op transpose is fine

    def wrong(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
        z = x_t @ W_ih + h_prev @ W_hh + b_ih + b_hh
        return z, z
    assert_fails("lstm_step", wrong, "W_ih.T")


def test_lstm_uses_torch():
    def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
        import torch
        h, c = ref.torch_lstm_cell(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh)
        return torch.from_numpy(h).numpy(), c
    assert_fails("lstm_step", lstm_step, "torch")


def test_lstm_namedtuple_return_passes():
    from collections import namedtuple
    State = namedtuple("State", "h c")
    assert_passes("lstm_step", lambda **k: State(*ref.lstm_step(**k)))


@pytest.mark.parametrize("bad, phrase", [
    (lambda **k: None, "pair"),
    (lambda **k: ref.lstm_step(**k)[0], "pair"),
    (lambda **k: (*ref.lstm_step(**k), None), "2"),
    (lambda **k: tuple(a.tolist() for a in ref.lstm_step(**k)), "list"),
    (lambda **k: tuple(torch.from_numpy(a) for a in ref.lstm_step(**k)), "torch.Tensor"),
    (lambda **k: tuple(a.astype(np.float32) for a in ref.lstm_step(**k)), "float64"),
    (lambda **k: tuple(a * np.nan for a in ref.lstm_step(**k)), "NaN"),
])
def test_lstm_bad_returns(bad, phrase):
    assert_fails("lstm_step", lambda x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh:
                 bad(x_t=x_t, h_prev=h_prev, c_prev=c_prev, W_ih=W_ih, W_hh=W_hh, b_ih=b_ih,
                     b_hh=b_hh), phrase)


# --------------------------------------------------------------------------- course.language_model

from course.language_model import evaluation_windows, nats_per_char, random_windows  # noqa: E402


def test_random_windows_are_shifted_by_one():
    ids = torch.arange(1000)
    x, y = random_windows(ids, 8, 16, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 16)
    assert torch.equal(y, x + 1)                              # ids[i] = i: the next id
    x2, _ = random_windows(ids, 8, 16, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)


def test_evaluation_windows_score_every_character_once():
    ids = torch.arange(1000)
    x, y, scored = evaluation_windows(ids, context=32, warmup=8)
    assert scored == 24 and torch.equal(y, x + 1)
    targets = y[:, -scored:].reshape(-1)
    assert torch.equal(targets, torch.arange(9, 9 + len(targets)))   # consecutive, no repeats
    assert len(ids) - 1 - targets[-1] < scored                       # up to the end
    xs, _, _ = evaluation_windows(ids, context=32, warmup=8, max_windows=5)
    assert len(xs) == 5 and xs[0, 0] == 0 and xs[-1, 0] == x[-1, 0]


class _BigramLM(torch.nn.Module):
    def __init__(self, logp):
        super().__init__()
        self.chars = "".join(chr(97 + i) for i in range(len(logp)))
        self.logp = torch.as_tensor(logp)

    def forward(self, ids):                                   # (N, T) -> (N, T, V)
        return self.logp[ids]


def test_nats_per_char_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    V = 5
    logp = np.log(rng.dirichlet(np.ones(V), size=V))           # [previous, next]
    ids = torch.from_numpy(rng.integers(0, V, 3000))
    model = _BigramLM(logp).train()
    got = nats_per_char(model, ids, context=64, warmup=16, batch_size=7)
    _, y, scored = evaluation_windows(ids, 64, 16)
    n = scored * len(y)                                       # scored targets: ids[17 : 17 + n]
    prev, nxt = ids[16:16 + n].numpy(), ids[17:17 + n].numpy()
    assert np.isclose(got, -logp[prev, nxt].mean())
    assert model.training                                     # mode restored
    uniform = _BigramLM(np.zeros((V, V)))
    assert np.isclose(nats_per_char(uniform, ids, max_windows=3), np.log(V))

# --------------------------------------------------------------------------- right answers in other styles
# Run through the notebook's check and through the grader by tests/test_right_answers.py (issue 18).

ALTERNATIVES: dict[str, list[str]] = {
    "rnn_step": [
        '''def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    a = np.einsum("nd,hd->nh", x_t, W_xh) + np.einsum("nk,hk->nh", h_prev, W_hh) + b_h
    return np.tanh(a)                             # np from the notebook's first cell
''',
        # one matmul on [x_t | h_prev] against [W_xh | W_hh]
        '''import numpy as np


def rnn_step(x_t, h_prev, W_xh, W_hh, b_h):
    xh = np.concatenate([x_t, h_prev], axis=1)    # (N, D + H)
    W = np.concatenate([W_xh, W_hh], axis=1)      # (H, D + H)
    return np.tanh(xh @ W.T + b_h)
''',
    ],
    "rnn_forward": [
        # the input projections of every step at once, then the recurrence
        '''import numpy as np


def rnn_forward(x, h0, W_xh, W_hh, b_h):
    xw = np.einsum("ntd,hd->nth", x, W_xh) + b_h  # (N, T, H)
    h, states = h0, []
    for t in range(x.shape[1]):
        h = np.tanh(xw[:, t] + h @ W_hh.T)
        states.append(h)
    return np.stack(states, axis=1)               # (N, T, H)
''',
        # the learner's own rnn_step from the cell above
        '''def rnn_forward(x, h0, W_xh, W_hh, b_h):
    hs = np.zeros(x.shape[:2] + h0.shape[1:], dtype=np.result_type(x, h0))
    h = h0
    for t, x_t in enumerate(np.moveaxis(x, 1, 0)):    # x_t (N, D)
        hs[:, t] = h = rnn_step(x_t, h, W_xh, W_hh, b_h)
    return hs
''',
    ],
    "rnn_backward": [
        # keep every step's da, then the weight gradients in one einsum each
        '''import numpy as np


def rnn_backward(dhs, x, h0, hs, W_xh, W_hh):
    h_prevs = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)   # (N, T, H): h_{t-1}
    das = np.zeros_like(hs)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(hs.shape[1])):
        das[:, t] = (dhs[:, t] + dh_next) * (1 - hs[:, t] ** 2)
        dh_next = das[:, t] @ W_hh
    dx = das @ W_xh                                               # (N, T, H) @ (H, D)
    dW_xh = np.einsum("nth,ntd->hd", das, x)
    dW_hh = np.einsum("nth,ntk->hk", das, h_prevs)
    return dx, dh_next, dW_xh, dW_hh, das.sum(axis=(0, 1))
''',
        '''from typing import NamedTuple

import numpy as np


class RNNGrads(NamedTuple):
    dx: np.ndarray
    dh0: np.ndarray
    dW_xh: np.ndarray
    dW_hh: np.ndarray
    db_h: np.ndarray


def rnn_backward(dhs, x, h0, hs, W_xh, W_hh):
    N, T, H = hs.shape
    dx = np.zeros(x.shape)
    dW_xh, dW_hh, db_h = np.zeros(W_xh.shape), np.zeros(W_hh.shape), np.zeros(H)
    carry = np.zeros(h0.shape)
    t = T - 1
    while t >= 0:
        prev = h0 if t == 0 else hs[:, t - 1]
        da = (dhs[:, t] + carry) * (1 - np.square(hs[:, t]))
        dx[:, t] = np.einsum("nh,hd->nd", da, W_xh)
        dW_xh += np.einsum("nh,nd->hd", da, x[:, t])
        dW_hh += np.einsum("nh,nk->hk", da, prev)
        db_h += da.sum(0)
        carry = np.einsum("nh,hk->nk", da, W_hh)
        t -= 1
    return RNNGrads(dx, carry, dW_xh, dW_hh, db_h)
''',
    ],
    "sample": [
        # F.softmax, with F imported only by the notebook's first cell (issue 18, cause 1)
        '''def sample(model, prompt, n_chars, temperature=1.0, generator=None):
    stoi = {c: i for i, c in enumerate(model.chars)}
    ids = [stoi[c] for c in prompt]
    with torch.no_grad():
        for _ in range(n_chars):
            logits = model(torch.tensor([ids]))[0, -1]                  # (V,)
            probs = F.softmax(logits.double() / temperature, dim=-1)
            ids.append(torch.multinomial(probs, 1, generator=generator).item())
    return "".join(model.chars[i] for i in ids)
''',
        # inverse transform sampling: one uniform number against the cumulative probabilities
        '''import torch


def sample(model, prompt, n_chars, temperature=1.0, generator=None):
    index = {c: i for i, c in enumerate(model.chars)}
    context = torch.tensor([[index[c] for c in prompt]])
    out = list(prompt)
    for _ in range(n_chars):
        with torch.no_grad():
            logits = model(context)[0, -1].double() / temperature
        cdf = torch.cumsum(torch.softmax(logits, dim=0), dim=0)
        u = torch.rand(1, generator=generator, dtype=torch.float64)
        nxt = min(int(torch.searchsorted(cdf, u * cdf[-1])), len(cdf) - 1)
        out.append(model.chars[nxt])
        context = torch.cat([context, torch.tensor([[nxt]])], dim=1)
    return "".join(out)
''',
    ],
    "lstm_step": [
        '''from collections import namedtuple

import numpy as np
from scipy.special import expit

LSTMState = namedtuple("LSTMState", "h c")


def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    a = x_t @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh         # (N, 4H)
    i, f, g, o = np.split(a, 4, axis=1)                      # PyTorch's order
    c = expit(f) * c_prev + expit(i) * np.tanh(g)
    return LSTMState(h=expit(o) * np.tanh(c), c=c)
''',
        '''def lstm_step(x_t, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]

    def sigmoid(z):
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def gate(k):                                             # block k of H rows: i, f, g, o
        rows = slice(k * H, (k + 1) * H)
        return (np.einsum("nd,hd->nh", x_t, W_ih[rows]) + np.einsum("nk,hk->nh", h_prev, W_hh[rows])
                + b_ih[rows] + b_hh[rows])

    i, f, g, o = sigmoid(gate(0)), sigmoid(gate(1)), np.tanh(gate(2)), sigmoid(gate(3))
    c_t = f * c_prev + i * g
    h_t = o * np.tanh(c_t)
    return h_t, c_t
''',
    ],
}
