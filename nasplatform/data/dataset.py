"""Unpaired A/B training items over the CycleGAN folder layout, and single folders for evaluation."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

from nasplatform.data.images import list_images, to_tensor
from nasplatform.data.store import DomainImages, open_domain

if TYPE_CHECKING:  # only for annotations: data reads its config section and never imports the engine
    from nasplatform.engine.config import DataConfig

#: What `apply_bad_image_policy` can do with an undecodable file (the config checks data.on_bad_image against it).
BAD_IMAGE_POLICIES = ("error", "skip")

SPLITS = ("train", "test")
DOMAINS = ("A", "B")


class DataError(ValueError):
    """Data that cannot be used as asked: a missing or empty split, undecodable files, bad indices."""


def describe_root(root: Path, limit: int = 20) -> str:
    """What `root` holds, one entry per line with image counts for folders (for error messages)."""
    if not root.is_dir():
        return f"{root} does not exist" if not root.exists() else f"{root} is not a folder"
    entries = sorted(root.iterdir())
    if not entries:
        return f"{root} is empty"
    lines = [f"{e.name}/ ({len(list_images(e))} images)" if e.is_dir() else e.name for e in entries[:limit]]
    if len(entries) > limit:
        lines.append(f"... and {len(entries) - limit} more")
    return f"{root} contains:\n  " + "\n  ".join(lines)


def apply_bad_image_policy(store: DomainImages, policy: str) -> None:
    """Raise on undecodable files ("error") or warn that they are dropped ("skip"), naming every file."""
    if policy not in BAD_IMAGE_POLICIES:
        raise ValueError(f"on_bad_image: expected one of {BAD_IMAGE_POLICIES}, got {policy!r}")
    if not store.bad:
        return
    listing = "\n  ".join(b.reason for b in store.bad)
    if policy == "error":
        raise DataError(
            f"{len(store.bad)} image file(s) under {store.folder} cannot be decoded "
            f"(delete them, or set data.on_bad_image=skip to drop them):\n  {listing}"
        )
    warnings.warn(
        f"skipping {len(store.bad)} undecodable image file(s) under {store.folder}:\n  {listing}", stacklevel=3
    )


def _open_split(root: Path, name: str, size: int, cfg: DataConfig, cache_dir, progress: bool) -> DomainImages:
    store = open_domain(
        root / name, size, cache=cfg.cache, cache_dir=cache_dir, max_images=cfg.max_images, progress=progress
    )
    apply_bad_image_policy(store, cfg.on_bad_image)
    if len(store) == 0:
        state = "has no usable images" if (root / name).is_dir() else "is missing"
        raise DataError(
            f"split folder {root / name} {state} (expected the CycleGAN layout "
            f"ROOT/{{trainA,trainB,testA,testB}}); {describe_root(root)}"
        )
    return store


def _restriction(indices: Sequence[int] | None, size: int, name: str) -> np.ndarray:
    if indices is None:
        return np.arange(size)
    out = np.asarray(list(indices), dtype=np.int64)
    if out.size == 0:
        raise DataError(f"{name} is empty: a restricted domain needs at least one image")
    if out.min() < 0 or out.max() >= size:
        raise DataError(
            f"{name} holds index {int(out.min() if out.min() < 0 else out.max())} outside the domain's {size} images"
        )
    return out


class UnpairedDataset(Dataset):
    """Unpaired (a, b) items of one split of `cfg.root`, reproducible from (seed, epoch, index) alone.

    An epoch has max(|A|, |B|) items; item i takes image i of the longer domain (A on a tie) and a random
    image of the other. Every random choice of an item (partner, crop offsets, flips) comes from
    `numpy.random.default_rng([seed, epoch, i])`, so a resumed run sees exactly the same data.
    `indices_a`/`indices_b` restrict each domain to a subset (indices into `paths_a`/`paths_b`);
    items report `a_index`/`b_index` as such unrestricted indices. `train` defaults to split == "train".
    """

    def __init__(
        self,
        cfg: DataConfig,
        split: str = "train",
        *,
        seed: int = 0,
        indices_a: Sequence[int] | None = None,
        indices_b: Sequence[int] | None = None,
        train: bool | None = None,
        cache_dir: str | None = None,
        progress: bool = True,
    ):
        if split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
        if not cfg.root:
            raise DataError("data.root is not set: point it at a folder with trainA, trainB, testA, testB")
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.cfg, self.split, self.seed, self.epoch = cfg, split, int(seed), 0
        self.train = split == "train" if train is None else bool(train)
        size = cfg.load_size if self.train else cfg.crop_size
        root = Path(cfg.root)
        self._stores = {
            d: _open_split(root, f"{split}{d}", size, cfg, cache_dir or cfg.cache_dir or None, progress)
            for d in DOMAINS
        }
        self.paths_a: list[Path] = self._stores["A"].paths
        self.paths_b: list[Path] = self._stores["B"].paths
        self._subset = {
            "A": _restriction(indices_a, len(self.paths_a), "indices_a"),
            "B": _restriction(indices_b, len(self.paths_b), "indices_b"),
        }

    def set_epoch(self, epoch: int) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return max(len(self._subset["A"]), len(self._subset["B"]))

    def domain_size(self, domain: str) -> int:
        """Images of domain "A" or "B" before any restriction (after dropping undecodable ones)."""
        if domain not in DOMAINS:
            raise ValueError(f"domain: expected 'A' or 'B', got {domain!r}")
        return len(self._stores[domain])

    @property
    def decodes(self) -> int:
        """Files decoded so far in this process by the stores behind this dataset."""
        return sum(store.decodes for store in self._stores.values())

    def __getitem__(self, i) -> dict:
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} outside an epoch of {len(self)} items")
        rng = np.random.default_rng([self.seed, self.epoch, i])
        sub_a, sub_b = self._subset["A"], self._subset["B"]
        if len(sub_a) >= len(sub_b):
            pos_a, pos_b = i % len(sub_a), int(rng.integers(len(sub_b)))
        else:
            pos_a, pos_b = int(rng.integers(len(sub_a))), i % len(sub_b)
        a_index, b_index = int(sub_a[pos_a]), int(sub_b[pos_b])
        return {
            "a": self._view("A", a_index, rng),
            "b": self._view("B", b_index, rng),
            "a_index": a_index,
            "b_index": b_index,
        }

    def _view(self, domain: str, index: int, rng: np.random.Generator) -> torch.Tensor:
        pixels = self._stores[domain].image(index)
        if self.train:
            crop = self.cfg.crop_size
            top, left = (int(v) for v in rng.integers(0, pixels.shape[0] - crop + 1, size=2))
            flip = bool(rng.random() < 0.5)  # drawn even when flips are off, so crops do not depend on it
            pixels = pixels[top : top + crop, left : left + crop]
            if flip and self.cfg.flip:
                pixels = pixels[:, ::-1]
        return to_tensor(pixels)


class ImageFolder(Dataset):
    """The images of one folder with the deterministic test transform (resize to crop_size, no flip).

    Items are (image in [-1, 1] as 3 x crop_size x crop_size float32, path relative to `folder`).
    """

    def __init__(
        self,
        folder: str | Path,
        crop_size: int,
        *,
        on_bad_image: str = "error",
        max_images: int | None = None,
        cache: str = "memory",
        cache_dir: str | None = None,
        progress: bool = True,
    ):
        self.folder = Path(folder)
        self._store = open_domain(
            self.folder, crop_size, cache=cache, cache_dir=cache_dir, max_images=max_images, progress=progress
        )
        apply_bad_image_policy(self._store, on_bad_image)
        if len(self._store) == 0:
            state = "has no usable images" if self.folder.is_dir() else "does not exist"
            raise DataError(f"image folder {self.folder} {state}; {describe_root(self.folder.parent)}")
        self.paths: list[Path] = self._store.paths

    def __len__(self) -> int:
        return len(self._store)

    def __getitem__(self, i) -> tuple[torch.Tensor, str]:
        i = int(i)
        return to_tensor(self._store.image(i)), self.paths[i].relative_to(self.folder).as_posix()
