"""Checkpoints: atomic writes, weights_only loading, RNG states and image pools that resume exactly."""

import random
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from nasplatform.engine.checkpoint import (
    CheckpointError,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
)
from nasplatform.engine.pool import ImagePool


def training_state() -> dict:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.InstanceNorm2d(4), nn.Conv2d(4, 1, 1))
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
    net(torch.randn(1, 3, 6, 6)).mean().backward()
    opt.step()
    return {
        "epoch": 3,
        "elapsed_s": 1.5,
        "name": "g_a",
        "net": net.state_dict(),
        "opt": opt.state_dict(),
        "shape": torch.Size([1, 2]),
        "flags": (True, None),
        "nested": [{"x": torch.arange(3)}],
    }


def assert_same(a, b) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def draws() -> tuple:
    return (
        random.random(),
        random.gauss(0, 1),
        np.random.rand(3).tolist(),
        np.random.randn(),
        torch.rand(3).tolist(),
        torch.randint(0, 1000, (2,)).tolist(),
    )


def test_round_trip_with_rng_states(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached second gaussian in Python's state
    np.random.randn()  # likewise for NumPy's legacy generator
    state = training_state() | {"rng": capture_rng_state()}
    expected = draws()
    save_checkpoint(tmp_path / "last.pt", state)
    draws()  # move every generator on
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert_same({k: v for k, v in state.items() if k != "rng"}, {k: v for k, v in loaded.items() if k != "rng"})
    restore_rng_state(loaded["rng"])
    assert draws() == expected


def test_failed_save_leaves_previous_file_intact(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})
    poisoned = torch.zeros(1000)
    poisoned.hook = lambda: None  # a Python attribute on a tensor: pickling it fails inside torch.save
    with pytest.raises(Exception, match="lambda"):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3), "big": torch.zeros(10_000), "bad": poisoned})
    assert_same(load_checkpoint(path), {"epoch": 1, "w": torch.ones(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


def test_state_that_weights_only_would_refuse_is_rejected_before_writing(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})
    with pytest.raises(TypeError, match=r"\['metrics'\]\[0\]\['loss'\].*numpy.float64"):
        save_checkpoint(path, {"epoch": 2, "metrics": [{"loss": np.float64(0.5)}]})
    assert load_checkpoint(path) == {"epoch": 1}


@dataclass
class Payload:
    value: int


def test_file_holding_arbitrary_objects_is_refused(tmp_path):
    path = tmp_path / "unsafe.pt"
    torch.save({"payload": Payload(1)}, path)  # loading this fully would import and build arbitrary classes
    with pytest.raises(CheckpointError, match="unsafe.pt"):
        load_checkpoint(path)


def test_truncated_or_missing_file_names_it(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"w": torch.randn(64, 64)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="last.pt.*truncated"):
        load_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="last.pt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_restore_rejects_incomplete_rng_state():
    with pytest.raises(ValueError, match="numpy"):
        restore_rng_state({"python": {}, "torch": torch.get_rng_state(), "cuda": []})


def image(value: float) -> torch.Tensor:
    return torch.full((1, 3, 2, 2), float(value))


@pytest.mark.parametrize("filled", [0, 3, 20])
def test_pool_resumes_exactly_through_a_checkpoint(tmp_path, filled):
    pool = ImagePool(5, seed=11)
    for k in range(filled):
        pool.query(image(k))
    save_checkpoint(tmp_path / "pool.pt", {"pool": pool.state_dict()})
    resumed = ImagePool(5, seed=999)  # its own seed is overwritten by the saved generator state
    resumed.load_state_dict(load_checkpoint(tmp_path / "pool.pt")["pool"])
    assert len(resumed) == len(pool)
    for k in range(filled, filled + 30):
        assert torch.equal(pool.query(image(k)), resumed.query(image(k)))


def test_pool_state_of_another_size_is_refused():
    state = ImagePool(5).state_dict()
    with pytest.raises(ValueError, match="size 5"):
        ImagePool(4).load_state_dict(state)
