"""Translation grids of the runs: the latest `samples/epoch_XXXX.png` of each run folder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

_EPOCH = re.compile(r"(\d+)")


def _epoch_of(path: Path) -> tuple[int, str]:
    """Sort key: the last number in the file name (epoch_0012.png -> 12), then the name."""
    numbers = _EPOCH.findall(path.stem)
    return (int(numbers[-1]) if numbers else -1, path.name)


def latest_sample(run_dir: Path) -> Path | None:
    """The sample grid of the latest epoch in `run_dir/samples`, or None if there is none."""
    folder = run_dir / "samples"
    if not folder.is_dir():
        return None
    pngs = sorted(folder.glob("*.png"), key=_epoch_of)
    return pngs[-1] if pngs else None


def copy_sample(source: Path, folder: Path, name: str) -> Path:
    """Copy into the report so its links resolve wherever the report folder is moved."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}__{source.name}"
    shutil.copyfile(source, target)
    return target
