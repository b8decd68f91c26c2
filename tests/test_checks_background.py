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
