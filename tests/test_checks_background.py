"""Chapter 01: each check rejects the mistakes COURSE.md §9 lists, with a hint that names them."""
from tests.helpers import assert_fails


def _gpt(n_layers, d_model, vocab_size, n_ctx, head=False, biases=True, norms=True, positions=True):
    d = d_model
    block = 12 * d * d + (9 * d if biases else 0) + (4 * d if norms else 0)
    return (vocab_size * d + (n_ctx * d if positions else 0) + n_layers * block
            + (2 * d if norms else 0) + (vocab_size * d if head else 0))


def test_count_untied_head():
    assert_fails("count_gpt_params", lambda n_layers, d_model, vocab_size=50257, n_ctx=2048:
                 _gpt(n_layers, d_model, vocab_size, n_ctx, head=True), "tied")


def test_count_missing_biases():
    assert_fails("count_gpt_params", lambda n_layers, d_model, vocab_size=50257, n_ctx=2048:
                 _gpt(n_layers, d_model, vocab_size, n_ctx, biases=False), "bias")


def test_count_missing_layernorms():
    assert_fails("count_gpt_params", lambda n_layers, d_model, vocab_size=50257, n_ctx=2048:
                 _gpt(n_layers, d_model, vocab_size, n_ctx, norms=False), "LayerNorm")


def test_count_missing_position_embeddings():
    assert_fails("count_gpt_params", lambda n_layers, d_model, vocab_size=50257, n_ctx=2048:
                 _gpt(n_layers, d_model, vocab_size, n_ctx, positions=False), "position")


def test_count_wrong_default_context():
    assert_fails("count_gpt_params", lambda n_layers, d_model, vocab_size=50257, n_ctx=1024:
                 _gpt(n_layers, d_model, vocab_size, n_ctx), "default")


def test_count_float_result():
    assert_fails("count_gpt_params", lambda n_layers, d_model, vocab_size=50257, n_ctx=2048:
                 float(_gpt(n_layers, d_model, vocab_size, n_ctx)), "int")


def test_flops_forward_only():
    assert_fails("training_flops", lambda n_params, n_tokens: 2 * n_params * n_tokens, "forward")


def test_flops_returns_nothing():
    def training_flops(n_params, n_tokens):
        6 * n_params * n_tokens
    assert_fails("training_flops", training_flops, "None", "return")


def test_days_utilisation_ignored():
    assert_fails("training_days", lambda total_flops, n_gpus, peak_flops_per_gpu, utilization:
                 total_flops / (n_gpus * peak_flops_per_gpu) / 86400, "ignored")


def test_days_utilisation_upside_down():
    assert_fails("training_days", lambda total_flops, n_gpus, peak_flops_per_gpu, utilization:
                 total_flops * utilization / (n_gpus * peak_flops_per_gpu) / 86400, "upside down")


def test_days_left_in_seconds():
    assert_fails("training_days", lambda total_flops, n_gpus, peak_flops_per_gpu, utilization:
                 total_flops / (n_gpus * peak_flops_per_gpu * utilization), "seconds")


def test_memory_fp16_weights_only():
    assert_fails("training_memory_bytes", lambda n_params: 2 * n_params, "fp16 weights")


def test_memory_float_result():
    assert_fails("training_memory_bytes", lambda n_params: 16.0 * n_params, "int")


# --------------------------------------------------------------------------- right answers in other styles
# Run through the notebook's check and through the grader by tests/test_right_answers.py (issue 18).

ALTERNATIVES: dict[str, list[str]] = {
    "count_gpt_params": [
        '''def count_gpt_params(n_layers, d_model, vocab_size=50257, n_ctx=2048):
    def linear(n_in, n_out):                      # weight and bias
        return n_in * n_out + n_out

    def layer_norm(d):
        return 2 * d

    block = (linear(d_model, 3 * d_model) + linear(d_model, d_model)
             + linear(d_model, 4 * d_model) + linear(4 * d_model, d_model) + 2 * layer_norm(d_model))
    return vocab_size * d_model + n_ctx * d_model + n_layers * block + layer_norm(d_model)
''',
        '''def count_gpt_params(n_layers, d_model, vocab_size=50257, n_ctx=2048):
    L, d = n_layers, d_model
    return 12 * L * d**2 + 13 * L * d + (vocab_size + n_ctx) * d + 2 * d
''',
    ],
    "training_flops": [
        '''def training_flops(n_params, n_tokens):
    forward = 2 * n_params * n_tokens             # one multiply and one add per weight and token
    backward = 2 * forward                        # gradients for activations and for weights
    return forward + backward
''',
        '''def training_flops(n_params, n_tokens):
    return math.prod((6, n_params, n_tokens))     # math comes from the notebook's first cell
''',
    ],
    "training_days": [
        '''SECONDS_PER_DAY = 24 * 3600


def training_days(total_flops, n_gpus, peak_flops_per_gpu, utilization):
    achieved = peak_flops_per_gpu * utilization   # FLOP/s one GPU really delivers
    seconds = total_flops / (achieved * n_gpus)
    return seconds / SECONDS_PER_DAY
''',
        '''import numpy as np


def training_days(total_flops, n_gpus, peak_flops_per_gpu, utilization):
    hours = np.float64(total_flops) / np.prod([n_gpus, peak_flops_per_gpu, utilization]) / 3600
    return float(hours / 24)
''',
    ],
    "training_memory_bytes": [
        '''BYTES_PER_PARAMETER = {"fp16 weights": 2, "fp16 gradients": 2, "fp32 master weights": 4,
                       "Adam m": 4, "Adam v": 4}


def training_memory_bytes(n_params):
    return n_params * sum(BYTES_PER_PARAMETER.values())
''',
        '''def training_memory_bytes(n_params):
    half, single = 2, 4
    weights_and_grads = 2 * half * n_params
    optimiser = 3 * single * n_params             # master copy, m and v
    return weights_and_grads + optimiser
''',
    ],
}
