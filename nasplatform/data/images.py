"""Finding image files and decoding any of them into an RGB picture, a square uint8 array or a [-1, 1] tensor."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
#: Image files a dataset may hold that are not used (animated or multi-page formats, or no decoder here):
#: they are named once per folder, so that a user does not wonder why the counts are lower.
IGNORED_SUFFIXES = (".gif", ".tif", ".tiff", ".heic", ".heif", ".avif")
_reported_folders: set[Path] = set()


class IgnoredImagesWarning(UserWarning):
    """A dataset folder holds image files of a kind the platform does not read."""


# 16-bit modes: Pillow's own convert("RGB") clips them at 255 instead of rescaling.
_SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
# modes whose transparency has to go through RGBA before RGB
_ALPHA_MODES = ("LA", "PA", "La", "RGBa")


class BadImageError(ValueError):
    """A file that cannot be decoded as an image; the message names the file."""


def list_images(folder: str | Path) -> list[Path]:
    """The image files under `folder`, recursively, in sorted (deterministic) order.

    Hidden files and folders are left out: macOS `._name.jpg` resource forks and `.ipynb_checkpoints`
    copies carry image suffixes without being images of the dataset.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    visible = [
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    ]
    found = [p for p in visible if p.suffix.lower() in IMAGE_SUFFIXES]
    _report_ignored(folder, [p for p in visible if p.suffix.lower() in IGNORED_SUFFIXES])
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _report_ignored(folder: Path, ignored: list[Path]) -> None:
    key = folder.resolve()
    if not ignored or key in _reported_folders:
        return
    _reported_folders.add(key)
    names = sorted(p.relative_to(folder).as_posix() for p in ignored)
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    warnings.warn(
        f"{folder}: ignoring {len(names)} file(s) of a kind not read here "
        f"({'/'.join(s.lstrip('.').upper() for s in IGNORED_SUFFIXES)}; use "
        f"{'/'.join(s.lstrip('.').upper() for s in IMAGE_SUFFIXES)}): {shown}",
        IgnoredImagesWarning,
        stacklevel=3,
    )


def load_rgb(path: str | Path) -> Image.Image:
    """The image at `path` as an 8-bit RGB picture, EXIF orientation applied (fully decoded)."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # palette-transparency notes from Pillow
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
                return _to_rgb(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImageError(f"{path}: cannot decode image ({type(exc).__name__}: {exc})") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img.copy()
    if img.mode in _SIXTEEN_BIT_MODES:
        # "I" is how older Pillow versions open 16-bit PNGs, so it is read as 16-bit too
        wide = np.asarray(img, dtype=np.float64)
        gray = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray).convert("RGB")
    if img.mode == "F":
        return Image.fromarray(np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    # dropping alpha (not compositing) matches CycleGAN's Image.open(path).convert("RGB")
    return img.convert("RGB")


def resize_square(img: Image.Image, size: int) -> np.ndarray:
    """`img` resized to size x size with bicubic filtering (CycleGAN's Resize([s, s], BICUBIC)), as HxWx3 uint8."""
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> float32 3xHxW in [-1, 1] (ToTensor then Normalize(0.5, 0.5))."""
    # numpy, single-threaded: torch's threaded elementwise ops on one image were 10x slower on busy cores
    chw = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
    np.divide(pixels.transpose(2, 0, 1), np.float32(127.5), out=chw, dtype=np.float32)
    chw -= np.float32(1.0)
    return torch.from_numpy(chw)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW floats -> NHWC uint8."""
    images = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round()
    return images.permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)
