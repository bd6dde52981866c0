"""Inception features of an image folder, preprocessed the clean-fid "clean" way, on the extractor's device."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
from cleanfid.fid import get_files_features
from cleanfid.utils import EXTENSIONS
from PIL import Image

from nasplatform.data.images import BadImageError
from nasplatform.evaluation.inception import InceptionExtractor

#: Images per Inception batch; on 2 CPU cores small batches run fastest (benchmarks/fid.py: 4 ~ 8 > 16 > 32).
DEFAULT_BATCH_SIZE = 4


def image_files(folder: str | Path) -> list[Path]:
    """The image files clean-fid would read from `folder` (recursive, its extensions), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    # glob as clean-fid's get_folder_features does (it skips hidden files, unlike Path.rglob).
    found = {
        p
        for ext in EXTENSIONS
        for p in glob.glob(os.path.join(glob.escape(str(folder)), f"**/*.{ext}"), recursive=True)
    }
    files = [Path(p) for p in sorted(found) if os.path.isfile(p)]
    if not files:
        raise ValueError(f"no images ({', '.join(sorted(set(e.lower() for e in EXTENSIONS)))}) in {folder}")
    return files


def files_features(
    files: list[Path],
    extractor: InceptionExtractor,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = True,
    description: str = "",
) -> np.ndarray:
    """(N, 2048) float32 features of `files`: clean-fid's PIL bicubic resize to 299, then Inception."""
    # fdir=None: clean-fid treats any fdir containing ".zip" as a zip archive, even a plain folder.
    try:
        return get_files_features(
            [str(f) for f in files],
            model=extractor,
            num_workers=0,
            batch_size=batch_size,
            device=extractor.device,
            mode="clean",
            description=description,
            fdir=None,
            verbose=progress,
        )
    except (OSError, ValueError, SyntaxError) as exc:
        # clean-fid's loader (PIL) often names no file ("image file is truncated"): find the ones at fault
        bad = unreadable_files(files)
        if not bad:
            raise
        listing = "\n  ".join(f"{path}: {reason}" for path, reason in bad)
        raise BadImageError(f"{len(bad)} image file(s) cannot be read:\n  {listing}") from exc


def unreadable_files(files: list[Path]) -> list[tuple[Path, str]]:
    """(file, reason) for each file PIL cannot fully decode, as clean-fid's loader would open it."""
    bad = []
    for path in files:
        try:
            with Image.open(path) as img:
                img.convert("RGB")
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            bad.append((path, f"{type(exc).__name__}: {exc}"))
    return bad


def folder_features(
    folder: str | Path, extractor: InceptionExtractor, *, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True
) -> np.ndarray:
    """(N, 2048) float32 features of every image in `folder`."""
    files = image_files(folder)
    return files_features(
        files, extractor, batch_size=batch_size, progress=progress, description=f"Inception {Path(folder).name}"
    )
