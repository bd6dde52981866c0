"""On-disk cache of real-image statistics (mu, sigma and features), safe to share between processes.

One entry per (dataset, split, image size, extractor): `<slug>.npz` holds mu, sigma (float64),
features (float32, needed for KID) and the fingerprint it was computed from; `<slug>.json` is the
same provenance for people and tools. The fingerprint covers the sorted file list, the file contents,
the image count and sizes, the extractor's weights id and the clean-fid version: any change recomputes.
Files are replaced atomically (temp file in the same folder, fsync, os.replace) and an flock on
`<slug>.lock` serialises check-compute-write, so two processes never both compute one entry and
nobody reads a half-written file. Unlike clean-fid's `make_custom_stats`, nothing is written inside
an installed package.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import importlib.metadata
import json
import re
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from nasplatform.atomic import atomic_write
from nasplatform.evaluation.features import DEFAULT_BATCH_SIZE, files_features, image_files
from nasplatform.evaluation.frechet import gaussian_stats
from nasplatform.evaluation.inception import InceptionExtractor

FORMAT_VERSION = 1
CLEANFID_VERSION = importlib.metadata.version("clean-fid")


@dataclass(frozen=True)
class ReferenceKey:
    """Names a set of real images, e.g. ("horse2zebra", "testB", 256); the extractor is added by the cache.

    image_size: side of the square images; when set, every image must have it (else None: any size).
    """

    dataset: str
    split: str
    image_size: int | None = None

    @classmethod
    def for_folder(cls, folder: str | Path) -> ReferenceKey:
        """A key for a plain folder: its parent and own name, plus a hash of its absolute path."""
        folder = Path(folder).resolve()
        where = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
        return cls(dataset=folder.parent.name or "root", split=f"{folder.name}-{where}")

    def slug(self, extractor_id: str) -> str:
        size = "any" if self.image_size is None else str(self.image_size)
        raw = "__".join((self.dataset, self.split, size, extractor_id.rsplit(":", 1)[-1]))
        return re.sub(r"[^A-Za-z0-9._-]+", "_", raw)


@dataclass(frozen=True)
class ReferenceStats:
    """Statistics of the real images: mu and sigma (the paper's / FID's Gaussian fit) and the raw features."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray
    provenance: dict
    hit: bool

    @property
    def count(self) -> int:
        return int(self.features.shape[0])


def _image_size(path: Path) -> tuple[int, int]:
    if path.suffix == ".npy":
        height, width = np.load(path, mmap_mode="r").shape[:2]
        return int(width), int(height)
    try:
        with Image.open(path) as img:
            return img.size
    except OSError as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from exc


def _check_sizes(files: list[Path], key: ReferenceKey) -> list[list[int]]:
    sizes = {}
    for path in files:
        sizes.setdefault(_image_size(path), path)
    if key.image_size is not None:
        for size, path in sizes.items():
            if size != (key.image_size, key.image_size):
                raise ValueError(
                    f"{path}: image is {size[0]}x{size[1]}, the reference key says {key.image_size}x{key.image_size}"
                )
    return sorted([list(s) for s in sizes])


def fingerprint(folder: Path, files: list[Path], key: ReferenceKey, extractor_id: str) -> dict:
    """What the statistics depend on; equal fingerprints mean the cached entry is valid."""
    names = [f.relative_to(folder).as_posix() for f in files]
    content = hashlib.sha256()
    for name, path in zip(names, files):
        content.update(f"{name}\0{path.stat().st_size}\0".encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                content.update(block)
    data = {
        "format_version": FORMAT_VERSION,
        "key": asdict(key),
        "count": len(files),
        "file_list_sha256": hashlib.sha256("\n".join(names).encode()).hexdigest(),
        "content_sha256": content.hexdigest(),
        "image_sizes": _check_sizes(files, key),
        "extractor_id": extractor_id,
        "cleanfid_version": CLEANFID_VERSION,
        "cleanfid_mode": "clean",
    }
    return json.loads(json.dumps(data))  # normalise to what a JSON round trip gives back


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class ReferenceCache:
    """Reference statistics under `root`; `hits` and `misses` count `get` calls served from disk or computed."""

    def __init__(self, root: str | Path, *, batch_size: int = DEFAULT_BATCH_SIZE, progress: bool = True) -> None:
        self.root = Path(root)
        self.batch_size = batch_size
        self.progress = progress
        self.hits = 0
        self.misses = 0

    def entry_path(self, key: ReferenceKey, extractor: InceptionExtractor) -> Path:
        """The `.npz` file of one entry (the `.json` sidecar and `.lock` sit beside it)."""
        return self.root / f"{key.slug(extractor.id)}.npz"

    def get(self, folder: str | Path, extractor: InceptionExtractor, key: ReferenceKey | None = None) -> ReferenceStats:
        """Statistics of the images in `folder`, from disk when the fingerprint still matches."""
        folder = Path(folder)
        key = key or ReferenceKey.for_folder(folder)
        files = image_files(folder)
        if len(files) < 2:
            raise ValueError(f"{folder}: reference statistics need at least 2 images, found {len(files)}")
        expected = fingerprint(folder, files, key, extractor.id)
        self.root.mkdir(parents=True, exist_ok=True)
        npz = self.entry_path(key, extractor)
        with _exclusive(npz.with_suffix(".lock")):
            stats = self._load(npz, expected)
            if stats is not None:
                self.hits += 1
                return stats
            self.misses += 1
            return self._compute_and_store(npz, folder, files, extractor, expected)

    @staticmethod
    def _load(npz: Path, expected: dict) -> ReferenceStats | None:
        if not npz.is_file():
            return None
        try:
            with np.load(npz) as data:
                if json.loads(str(data["fingerprint"])) != expected:
                    return None
                provenance = json.loads(str(data["provenance"]))
                return ReferenceStats(data["mu"], data["sigma"], data["features"], provenance, hit=True)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            warnings.warn(f"{npz}: unreadable reference statistics ({exc}); recomputing them", stacklevel=3)
            return None

    def _compute_and_store(
        self, npz: Path, folder: Path, files: list[Path], extractor: InceptionExtractor, expected: dict
    ) -> ReferenceStats:
        features = files_features(
            files, extractor, batch_size=self.batch_size, progress=self.progress, description=f"reference {folder.name}"
        )
        mu, sigma = gaussian_stats(features)
        provenance = {
            **expected,
            "folder": str(folder.resolve()),
            "extractor_source": extractor.source,
            "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        arrays = {
            "mu": mu,
            "sigma": sigma,
            "features": features,
            "fingerprint": np.array(json.dumps(expected)),
            "provenance": np.array(json.dumps(provenance)),
        }
        atomic_write(npz, lambda f: np.savez(f, **arrays))
        text = json.dumps(provenance, indent=2) + "\n"
        atomic_write(npz.with_suffix(".json"), lambda f: f.write(text.encode()))
        return ReferenceStats(mu, sigma, features, provenance, hit=False)
