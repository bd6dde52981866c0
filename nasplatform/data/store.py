"""The images of one folder: checked once when opened, then served as square uint8 arrays from a cache.

A `DomainImages` decodes every file of its folder when it is built (that is the check that reports bad
files at start) and, with cache "memory" or "mmap", keeps what it decoded, so each file is decoded once per
run. Stores are shared within a process: several datasets over the same folder (the TH/THS halves, a
validation hold-out) get the same store instead of decoding and holding the images again.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nasplatform.data.images import BadImageError, list_images, load_rgb, resize_square

# bump when the decoded pixels of a file would change (resize filter, mode conversion): stale mmap caches rebuild
DECODE_VERSION = 1
# folders with fewer images than this open without a progress bar
PROGRESS_MIN_IMAGES = 64


@dataclass(frozen=True)
class BadImage:
    path: Path
    reason: str


class DomainImages:
    """The good images of `folder` (sorted; the first `max_images` files considered) at `size` x `size`.

    `paths[i]` is image i; `image(i)` its HxWx3 uint8 pixels; `bad` the files that failed to decode;
    `decodes` counts decodes done by this process (the cache test reads it).
    """

    def __init__(self, folder: Path, files: list[Path], size: int, cache: str, cache_file: Path | None):
        self.folder, self.size, self.cache = folder, size, cache
        self.decodes = 0
        self._files = files
        self._cache_file = cache_file
        self._pixels: np.ndarray | None = None
        self._rows: list[int] = []
        self.paths: list[Path] = []
        self.bad: list[BadImage] = []

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> np.ndarray:
        if self.cache == "none":
            self.decodes += 1
            return resize_square(load_rgb(self.paths[i]), self.size)
        if self._pixels is None:  # an mmap store unpickled in a DataLoader worker reopens its file
            self._pixels = np.load(self._cache_file, mmap_mode="r")
        return self._pixels[self._rows[i]]

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self.cache == "mmap":
            state["_pixels"] = None  # pickling a memmap would copy the whole file into the pickle
        return state

    def _decode(self, path: Path) -> np.ndarray:
        self.decodes += 1
        return resize_square(load_rgb(path), self.size)

    def build(self, progress: bool) -> None:
        """Decode every file once; keep the pixels unless the cache is "none"."""
        keep = self.cache != "none"
        target = self._new_pixels() if keep else None
        bar = tqdm(
            self._files,
            desc=f"checking {self.folder.name}",
            unit="img",
            leave=False,
            disable=not progress or len(self._files) < PROGRESS_MIN_IMAGES,
        )
        for row, path in enumerate(bar):
            try:
                pixels = self._decode(path)
            except BadImageError as exc:
                self.bad.append(BadImage(path, str(exc)))
                continue
            if target is not None:
                target[row] = pixels
            self._rows.append(row)
            self.paths.append(path)
        if self.cache == "mmap":
            target.flush()
            del target
            self._publish_mmap()
        elif keep:
            target.flags.writeable = False  # shared by every dataset over this folder
            self._pixels = target

    def _new_pixels(self) -> np.ndarray:
        shape = (len(self._files), self.size, self.size, 3)
        if self.cache == "memory":
            return np.zeros(shape, dtype=np.uint8)
        self._cache_file.parent.mkdir(parents=True, exist_ok=True)
        return np.lib.format.open_memmap(_partial(self._cache_file), mode="w+", dtype=np.uint8, shape=shape)

    def _publish_mmap(self) -> None:
        # write-then-rename, so concurrent runs building the same cache never see half a file
        os.replace(_partial(self._cache_file), self._cache_file)
        manifest = {
            "files": _fingerprints(self.folder, self._files),
            "rows": self._rows,
            "bad": [[str(b.path.relative_to(self.folder)), b.reason] for b in self.bad],
        }
        manifest_file = self._cache_file.with_suffix(".json")
        _partial(manifest_file).write_text(json.dumps(manifest))
        os.replace(_partial(manifest_file), manifest_file)
        self._pixels = np.load(self._cache_file, mmap_mode="r")

    def reuse_mmap(self) -> bool:
        """Adopt an existing cache file built from exactly these files (same names, sizes and mtimes)."""
        manifest_file = self._cache_file.with_suffix(".json")
        if not (manifest_file.is_file() and self._cache_file.is_file()):
            return False
        try:
            manifest = json.loads(manifest_file.read_text())
            pixels = np.load(self._cache_file, mmap_mode="r")
        except (OSError, ValueError):
            return False
        if manifest.get("files") != _fingerprints(self.folder, self._files) or pixels.shape[0] != len(self._files):
            return False
        self._pixels, self._rows = pixels, list(manifest["rows"])
        self.paths = [self._files[r] for r in self._rows]
        self.bad = [BadImage(self.folder / rel, reason) for rel, reason in manifest["bad"]]
        return True


def _partial(path: Path) -> Path:
    return path.with_name(f"{path.name}.{os.getpid()}.partial")


def _fingerprints(folder: Path, files: list[Path]) -> list[list]:
    out = []
    for path in files:
        st = path.stat()
        out.append([path.relative_to(folder).as_posix(), st.st_size, st.st_mtime_ns])
    return out


def _cache_file(folder: Path, size: int, max_images: int | None, cache_dir: Path) -> Path:
    key = json.dumps([str(folder.resolve()), size, max_images, DECODE_VERSION])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / f"{folder.name}-{size}px-{digest}.npy"


_OPEN_STORES: weakref.WeakValueDictionary[tuple, DomainImages] = weakref.WeakValueDictionary()


def open_domain(
    folder: str | Path,
    size: int,
    *,
    cache: str = "memory",
    cache_dir: str | Path | None = None,
    max_images: int | None = None,
    progress: bool = True,
) -> DomainImages:
    """The checked (and cached) images of `folder` at `size` x `size`; shared with other open datasets."""
    folder = Path(folder)
    files = list_images(folder)[:max_images]
    if not files:
        cache = "none"  # nothing to keep; avoids writing an empty cache file for a missing folder
    fingerprint = tuple(tuple(f) for f in _fingerprints(folder, files))
    if cache == "mmap" and not cache_dir:
        raise ValueError(f"cache 'mmap' for {folder} needs a cache directory (data.cache_dir)")
    key = (str(folder.resolve()), size, cache, str(cache_dir) if cache == "mmap" else None, fingerprint)
    store = _OPEN_STORES.get(key)
    if store is not None:
        return store
    cache_file = _cache_file(folder, size, max_images, Path(cache_dir)) if cache == "mmap" else None
    store = DomainImages(folder, files, size, cache, cache_file)
    if not (cache == "mmap" and store.reuse_mmap()):
        store.build(progress)
    _OPEN_STORES[key] = store
    return store
