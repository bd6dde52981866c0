"""Typed settings of the unpaired image data (the `data:` section of every run config)."""

from __future__ import annotations

from dataclasses import dataclass

BAD_IMAGE_POLICIES = ("error", "skip")
CACHE_KINDS = ("memory", "mmap", "none")


@dataclass(frozen=True)
class DataConfig:
    """Where the images are and how a training item is made from them.

    `root` holds the CycleGAN layout `{trainA,trainB,testA,testB}`. Training items are resized to
    `load_size`, randomly cropped to `crop_size` and randomly flipped (CycleGAN's `resize_and_crop`
    with `--load_size 286 --crop_size 256`); test items are resized to `crop_size`.
    `cache`: "memory" keeps decoded uint8 images in RAM, "mmap" in a memory-mapped .npy under a cache
    directory (`cache_dir`, or the one the caller passes), "none" decodes on every access.
    `max_images` keeps the first N images of each domain (sorted order), for smoke runs.
    """

    root: str = ""
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    on_bad_image: str = "error"
    cache: str = "memory"
    max_images: int | None = None
    cache_dir: str = ""

    def __post_init__(self) -> None:
        if self.on_bad_image not in BAD_IMAGE_POLICIES:
            raise ValueError(f"on_bad_image: expected one of {BAD_IMAGE_POLICIES}, got {self.on_bad_image!r}")
        if self.cache not in CACHE_KINDS:
            raise ValueError(f"cache: expected one of {CACHE_KINDS}, got {self.cache!r}")
        if self.crop_size < 1 or self.load_size < 1:
            raise ValueError(f"load_size and crop_size must be positive, got {self.load_size} and {self.crop_size}")
        if self.crop_size > self.load_size:
            raise ValueError(f"crop_size ({self.crop_size}) must not exceed load_size ({self.load_size})")
        if self.max_images is not None and self.max_images < 1:
            raise ValueError(f"max_images: expected a positive count or null, got {self.max_images}")


def load_size_for(crop_size: int) -> int:
    """CycleGAN's load 286 -> crop 256 ratio at any crop size (72 for 64, 36 for 32)."""
    return int(round(crop_size * 286 / 256))
