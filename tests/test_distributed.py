"""course/distributed.py: sharding, the gradient-averaging identity, and the DDP code path.

The two-process run under torchrun is executed by chapter 06's notebook; here one gloo
process (world size 1) runs the same `train_ddp` in this process, which takes well under
a second.
"""
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course import distributed


def _data(cfg):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(200, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, size=200)
    return distributed.make_batches(X, y, cfg)


def test_make_batches_shapes():
    cfg = distributed.DDPConfig(steps=3, global_batch=16)
    xs, ys = _data(cfg)
    assert xs.shape == (3, 16, 64) and xs.dtype == np.float64
    assert ys.shape == (3, 16) and ys.dtype == np.int64


def test_shard_splits_evenly():
    batch = np.arange(12)
    parts = [distributed.shard(batch, r, 3) for r in range(3)]
    np.testing.assert_array_equal(np.concatenate(parts), batch)
    with pytest.raises(ValueError):
        distributed.shard(np.arange(10), 0, 3)


def test_mean_of_shard_gradients_is_the_full_batch_gradient():
    cfg = distributed.DDPConfig(steps=1, global_batch=32)
    xs, ys = _data(cfg)
    model = distributed.make_model(cfg, seed=0)

    def grad(x, y):
        model.zero_grad()
        F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    full = grad(xs[0], ys[0])
    shards = [grad(distributed.shard(xs[0], r, 4), distributed.shard(ys[0], r, 4)) for r in range(4)]
    torch.testing.assert_close(full, sum(shards) / 4, rtol=0, atol=1e-14)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_train_ddp_with_one_rank_equals_train_single(tmp_path, monkeypatch):
    cfg = distributed.DDPConfig(steps=3, global_batch=16)
    xs, ys = _data(cfg)
    for key, value in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                           MASTER_PORT=str(_free_port())).items():
        monkeypatch.setenv(key, value)
    distributed.train_ddp(xs, ys, cfg, tmp_path)
    ddp = torch.load(tmp_path / "rank0.pt")
    single = distributed.train_single(xs, ys, cfg)
    start = distributed.make_model(cfg, cfg.seed).state_dict()
    for k in single:
        torch.testing.assert_close(ddp[k], single[k], rtol=0, atol=1e-12)
    assert max((single[k] - start[k]).abs().max().item() for k in single) > 1e-3


def test_main_refuses_to_run_outside_torchrun(tmp_path, monkeypatch):
    cfg = distributed.DDPConfig(steps=1, global_batch=8)
    xs, ys = _data(cfg)
    np.savez(tmp_path / "b.npz", xs=xs, ys=ys)
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(SystemExit, match="torchrun"):
        distributed.main(["--data", str(tmp_path / "b.npz"), "--out", str(tmp_path)])


# --------------------------------------------------------------------------- ZeRO / FSDP

def test_bytes_per_param_per_device():
    b = distributed.bytes_per_param_per_device
    assert [b(s, 1) for s in distributed.STAGES] == [16, 16, 16, 16]
    assert b("DDP", 64) == 16
    assert b("ZeRO-1", 4) == 4 + 12 / 4
    assert b("ZeRO-2", 4) == 2 + 14 / 4
    assert b("ZeRO-3 / FSDP", 64) == 16 / 64
    # ZeRO's Figure 1 (Rajbhandari et al., 2020): 7.5B parameters on 64 devices, in GB
    gb = [7.5e9 * b(s, 64) / 1e9 for s in distributed.STAGES]
    np.testing.assert_allclose(gb, [120, 31.4, 16.6, 1.9], atol=0.05)


def test_comm_values_per_step():
    c = distributed.comm_values_per_step
    assert c("DDP", 1000, 1) == 0
    assert c("DDP", 1000, 2) == 1000
    assert c("FSDP", 1000, 2) == 1500
    assert c("FSDP", 1000, 2, reshard_after_forward=False) == 1000
    assert c("FSDP", 1000, 8) / c("DDP", 1000, 8) == 1.5


def test_torchrun_command_has_a_rendezvous():
    cmd = distributed.torchrun_command(4, 8, "node0:29500", "job42", ["--data", "d.npz"])
    assert cmd[:6] == ["torchrun", "--nnodes=4", "--nproc_per_node=8", "--rdzv-backend=c10d",
                       "--rdzv-id=job42", "--rdzv-endpoint=node0:29500"]
    assert cmd[-4:] == ["-m", "course.distributed", "--data", "d.npz"]


def test_fsdp_transformer_trains_alone_and_moves():
    cfg = distributed.FSDPConfig(steps=2, global_batch=8)
    xs, ys = _data(distributed.DDPConfig(steps=2, global_batch=8))
    state, state_bytes = distributed.train_single_transformer(xs, ys, cfg)
    n = sum(v.numel() for v in state.values())
    assert state_bytes == 2 * 4 * n + 4 * len(state)          # two float32 moments + a step each


def test_fsdp_two_ranks_with_the_multinode_command_on_one_machine(tmp_path):
    """The multi-node command (c10d rendezvous), run with --nnodes=1 on localhost: 2 FSDP ranks.

    Each rank holds half of the parameters and of AdamW's moments; the gathered weights equal
    one process's on the same batches; keeping the weights after forward holds all of them
    between forward and backward and saves one all-gather per unit.
    """
    import json
    import subprocess
    import sys

    cfg = distributed.FSDPConfig()
    xs, ys = _data(distributed.DDPConfig(steps=cfg.steps, global_batch=cfg.global_batch))
    np.savez(tmp_path / "b.npz", xs=xs, ys=ys)
    cmd = distributed.torchrun_command(
        nnodes=1, nproc_per_node=2, rdzv_endpoint=f"localhost:{_free_port()}", rdzv_id="test-fsdp",
        script_args=["--strategy", "fsdp", "--reshard-after-forward", "true", "false",
                     "--data", str(tmp_path / "b.npz"), "--out", str(tmp_path)],
        python=sys.executable)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    single, single_state_bytes = distributed.train_single_transformer(xs, ys, cfg)
    n_params = sum(v.numel() for v in single.values())
    n_tensors = len(single)
    for tag in ("reshard", "keep"):
        ranks = [json.loads((tmp_path / f"fsdp_rank{r}_{tag}.json").read_text()) for r in range(2)]
        assert [s["rank"] for s in ranks] == [0, 1]
        assert sum(s["params_held"] for s in ranks) == n_params
        for s in ranks:
            assert abs(s["params_held"] - n_params / 2) <= n_tensors          # ½, within rounding
            assert abs(s["moment_bytes"] - 2 * 4 * n_params / 2) <= 8 * n_tensors
            assert s["param_bytes"] == 4 * s["params_held"]
            comm = s["last_step_collectives"]
            assert comm["reduce_scatter"] == cfg.n_layers + 1
            gathers = (2 if tag == "reshard" else 1) * (cfg.n_layers + 1)
            assert comm["all_gather"] == gathers
        held = ranks[0]["held_between_forward_and_backward"]
        assert held == (ranks[0]["params_held"] if tag == "reshard" else n_params)
        gathered = torch.load(tmp_path / f"fsdp_{tag}.pt")
        diff = max((gathered[k] - single[k]).abs().max().item() for k in single)
        assert diff <= 1e-5, diff
    start = distributed.make_transformer(cfg, cfg.seed).state_dict()
    assert max((single[k] - start[k]).abs().max().item() for k in single) > 1e-2
