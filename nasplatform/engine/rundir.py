"""A run directory's files (docs/formats.md): config, genotypes, Parquet tables, checkpoints, samples."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from nasplatform.atomic import atomic_write
from nasplatform.engine.config import ConfigError, flatten, load_yaml, save_yaml, to_dict, with_absolute_paths


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Readers never see half a file (temp file in the same folder, then rename)."""
    atomic_write(path, lambda fh: fh.write(data))


class RunDirError(ValueError):
    """A run directory that cannot take this run: it holds another run's files."""


#: What training and evaluation produce at the top of a run folder (a folder counts when it holds a file);
#: config.yaml, genotypes.json and splits.json come first and are only inputs until one of these exists.
RUN_FILES = ("metrics.parquet", "alpha_history.parquet", "evaluation.json", "checkpoints", "samples", "final", "eval")
#: Files rewritten every epoch; at a checkpoint epoch they are staged and put in place only after the checkpoint.
EPOCH_FILES = ("metrics.parquet", "alpha_history.parquet", "genotypes.json")
_STAGED = re.compile(r"^\.(?P<name>.+)\.epoch-(?P<epoch>\d+)\.staged$")


class RunFileError(ValueError):
    """A run file (metrics.parquet, alpha_history.parquet, genotypes.json...) that cannot be read; names the file."""


class RunDirectory:
    """Paths and atomic writers of one search or retrain run."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config = self.root / "config.yaml"
        self.genotypes = self.root / "genotypes.json"
        self.metrics = self.root / "metrics.parquet"
        self.alpha_history = self.root / "alpha_history.parquet"
        self.splits = self.root / "splits.json"
        self.checkpoints = self.root / "checkpoints"
        self.samples = self.root / "samples"
        self.final = self.root / "final"
        self.evaluation = self.root / "evaluation.json"
        self._staging: int | None = None
        self.tensorboard = self.root / "tb"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    def prepare(self) -> RunDirectory:
        for folder in (self.root, self.checkpoints, self.samples):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def run_files(self) -> list[str]:
        """The run files (RUN_FILES) present in the folder; a folder among them counts when it holds a file."""

        def present(path: Path) -> bool:
            if path.is_dir():
                return any(p.is_file() and not p.name.startswith(".") for p in path.rglob("*"))
            return path.exists()

        return [name for name in RUN_FILES if present(self.root / name)]

    def bind_config(self, cfg, resuming: bool = False) -> None:
        """Save the resolved config of a fresh run; a run with a checkpoint must be continued with the same one.

        A folder holding run files but no checkpoint is refused, unless `resuming` (its saved config, which
        `cfg` is, then starts again from epoch 1: nothing was checkpointed, so nothing is lost).
        """
        if not self.last_checkpoint.exists() and not resuming and self.run_files():
            raise RunDirError(
                f"{self.root} already holds run files ({', '.join(self.run_files())}) but no checkpoint "
                f"{self.last_checkpoint.relative_to(self.root)}; they would be overwritten. Write this run elsewhere "
                f"(--out NEW_DIR), start that run again with --resume {self.root}, or delete the folder"
            )
        if self.config.exists():
            try:
                saved = with_absolute_paths(load_yaml(type(cfg), self.config))
                if hasattr(saved, "threads"):  # how many threads is how to run, not what: it may change on resume
                    saved = dataclasses.replace(saved, threads=cfg.threads)
            except ConfigError as exc:  # e.g. a retrain --out into a search's folder, or someone's own config.yaml
                raise RunDirError(
                    f"{self.root} holds another kind of run or file ({self.config} is not a "
                    f"{type(cfg).__name__}: {exc}); write this run elsewhere (--out NEW_DIR)"
                ) from None
        if self.last_checkpoint.exists() and self.config.exists():
            if saved != cfg:
                a, b = flatten(to_dict(saved)), flatten(to_dict(cfg))
                keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                raise ConfigError(
                    keys[0],
                    f"{self.root} holds a run whose config differs in {', '.join(keys)}; "
                    "continue it with --resume, or choose a new output folder",
                )
            return
        self.root.mkdir(parents=True, exist_ok=True)
        save_yaml(cfg, self.config)

    def saved_config(self, cls: type, kind: str):
        """The `cls` config an earlier `kind` run saved here (what --resume continues with)."""
        if not self.config.exists():
            raise FileNotFoundError(f"{self.config}: no saved config; is {self.root} a {kind} run directory?")
        return load_yaml(cls, self.config)

    def write_text(self, path: Path, text: str) -> None:
        atomic_write_bytes(self._target(path), text.encode())

    # ------------------------------------------------------------ epoch files commit with their checkpoint

    def stage(self, epoch: int) -> None:
        """Until `commit`, writes of EPOCH_FILES go to `.NAME.epoch-N.staged` beside them (docs/formats.md)."""
        self._staging = epoch

    def _target(self, path: Path) -> Path:
        if self._staging is None or path.parent != self.root or path.name not in EPOCH_FILES:
            return path
        return path.with_name(f".{path.name}.epoch-{self._staging}.staged")

    def commit(self) -> None:
        """Put the staged files of the epoch in place (call after its checkpoint is written)."""
        epoch, self._staging = self._staging, None
        if epoch is not None:
            self._publish(epoch)

    def _publish(self, epoch: int) -> None:
        for path in sorted(self.root.glob(".*.staged")):
            match = _STAGED.match(path.name)
            if match and int(match["epoch"]) == epoch:
                os.replace(path, self.root / match["name"])

    def recover(self, checkpoint_epoch: int | None) -> None:
        """After a crash: finish the commit of the checkpointed epoch, drop staged files of any other epoch and
        the temp files of interrupted atomic writes."""
        if checkpoint_epoch is not None:
            self._publish(checkpoint_epoch)
        for folder in (self.root, self.checkpoints, self.final):
            if folder.is_dir():
                for path in folder.glob(".*"):
                    if path.is_file() and (path.name.endswith(".tmp") or _STAGED.match(path.name)):
                        path.unlink(missing_ok=True)

    def write_json(self, path: Path, data: Any) -> None:
        self.write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunFileError(f"{path}: not valid JSON ({exc})") from None

    def write_rows(self, path: Path, rows: list[dict]) -> None:
        """Rewrite a whole Parquet table (small: one row per epoch or per op and epoch)."""
        atomic_write_bytes(self._target(path), pd.DataFrame(rows).to_parquet(index=False))

    def read_rows(self, path: Path, up_to_epoch: int | None = None) -> list[dict]:
        """Rows of a Parquet table, dropping epochs after `up_to_epoch` (they were not checkpointed)."""
        if not path.exists():
            return []
        try:
            frame = pd.read_parquet(path)
            if up_to_epoch is not None:
                frame = frame[frame["epoch"] <= up_to_epoch]
        except (OSError, ValueError, KeyError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunFileError(
                f"{path}: not a readable table of this run ({first}); restore it from a backup, "
                "or move it away to continue without the rows it held"
            ) from None
        return frame.to_dict("records")
