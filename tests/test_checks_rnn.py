"""Chapter 04: each check accepts the reference and rejects the mistakes issue 7 lists."""
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
