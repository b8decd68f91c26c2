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
