"""A run directory's files (docs/formats.md): config, genotypes, Parquet tables, checkpoints, samples."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pandas as pd

from nasplatform.engine.checkpoint import atomic_write
from nasplatform.engine.config import ConfigError, load_yaml, save_yaml, to_dict


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Readers never see half a file (temp file in the same folder, then rename)."""
    atomic_write(path, lambda fh: fh.write(data))


def _flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


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
        self.tensorboard = self.root / "tb"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    def prepare(self) -> "RunDirectory":
        for folder in (self.root, self.checkpoints, self.samples):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def bind_config(self, cfg) -> None:
        """Save the resolved config of a fresh run; a run with a checkpoint must be continued with the same one."""
        if self.last_checkpoint.exists() and self.config.exists():
            saved = load_yaml(type(cfg), self.config)
            if hasattr(saved, "threads"):  # how many threads is how to run, not what: it may change on resume
                saved = dataclasses.replace(saved, threads=cfg.threads)
            if saved != cfg:
                a, b = _flatten(to_dict(saved)), _flatten(to_dict(cfg))
                keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                raise ConfigError(keys[0], f"{self.root} holds a run whose config differs in {', '.join(keys)}; "
                                  "continue it with --resume, or choose a new output folder")
            return
        self.root.mkdir(parents=True, exist_ok=True)
        save_yaml(cfg, self.config)

    def saved_config(self, cls: type, kind: str):
        """The `cls` config an earlier `kind` run saved here (what --resume continues with)."""
        if not self.config.exists():
            raise FileNotFoundError(f"{self.config}: no saved config; is {self.root} a {kind} run directory?")
        return load_yaml(cls, self.config)

    def write_text(self, path: Path, text: str) -> None:
        atomic_write_bytes(path, text.encode())

    def write_json(self, path: Path, data: Any) -> None:
        self.write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def read_json(self, path: Path) -> Any:
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None

    def write_rows(self, path: Path, rows: list[dict]) -> None:
        """Rewrite a whole Parquet table (small: one row per epoch or per op and epoch)."""
        atomic_write_bytes(path, pd.DataFrame(rows).to_parquet(index=False))

    def read_rows(self, path: Path, up_to_epoch: int | None = None) -> list[dict]:
        """Rows of a Parquet table, dropping epochs after `up_to_epoch` (they were not checkpointed)."""
        if not path.exists():
            return []
        frame = pd.read_parquet(path)
        if up_to_epoch is not None:
            frame = frame[frame["epoch"] <= up_to_epoch]
        return frame.to_dict("records")
