"""Model selection without test leakage: FID on a split held out from train picks each generator's best epoch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from nasplatform.engine.checkpoint import load_checkpoint, save_checkpoint
from nasplatform.evaluation import ReferenceCache, ReferenceKey, compute_scores, load_inception
from nasplatform.evaluation.generators import materialize_resized, translate_files
from nasplatform.nets.build import CycleGANNetworks


class ValidationSelector:
    """At chosen epochs, FID of G_A(val A) vs real val B and of G_B(val B) vs real val A (train images held out
    by `val_fraction`); the weights of each generator's lowest-FID epoch go to `checkpoints/best_val.pt`.
    The test split is never read here.
    """

    def __init__(
        self,
        run_root: Path,
        best_path: Path,
        val_files: dict[str, Sequence[Path]],
        size: int,
        device: str = "cpu",
        progress: bool = False,
    ):
        for domain, files in val_files.items():
            if len(files) < 2:
                raise ValueError(f"val_fraction holds out {len(files)} image(s) of domain {domain}; FID needs >= 2")
        self.root, self.best_path, self.files, self.size = run_root / "val", best_path, val_files, size
        self.device, self.progress = device, progress
        self.best = {"g_a": math.inf, "g_b": math.inf}
        self.best_epoch = {"g_a": 0, "g_b": 0}
        if best_path.exists():
            saved = load_checkpoint(best_path)
            for name in self.best:
                self.best[name], self.best_epoch[name] = float(saved[f"fid_{name}"]), int(saved[f"epoch_{name}"])
        self._extractor = None
        self.cache = ReferenceCache(self.root / "stats", progress=progress)

    def _scores(self, generator, src: str, dst: str) -> float:
        if self._extractor is None:
            self._extractor = load_inception(self.device)
        fakes = translate_files(generator, self.files[src], self.root / f"fake_{dst}", self.size, self.device)
        real = materialize_resized(self.files[dst], self.root / f"real_{dst}", self.size)
        key = ReferenceKey("validation", f"train{dst}-val", self.size)
        return compute_scores(
            fakes, real, extractor=self._extractor, cache=self.cache, reference_key=key, progress=self.progress
        ).fid

    def __call__(self, epoch: int, nets: CycleGANNetworks) -> dict[str, float]:
        """Validate, keep improved generators, return {"val_fid_a2b", "val_fid_b2a"}."""
        nets.train(False)
        try:
            fids = {"g_a": self._scores(nets.g_a, "A", "B"), "g_b": self._scores(nets.g_b, "B", "A")}
        finally:
            nets.train(True)
        improved = [name for name, fid in fids.items() if fid < self.best[name]]
        if improved:
            state = load_checkpoint(self.best_path) if self.best_path.exists() else {}
            for name in improved:
                self.best[name], self.best_epoch[name] = fids[name], epoch
                state[name] = getattr(nets, name).state_dict()
                state[f"fid_{name}"], state[f"epoch_{name}"] = fids[name], epoch
            save_checkpoint(self.best_path, state)
        return {"val_fid_a2b": fids["g_a"], "val_fid_b2a": fids["g_b"]}


def validation_files(paths_a: Sequence[Path], paths_b: Sequence[Path], indices: dict[str, Sequence[int]]) -> dict:
    return {"A": [paths_a[i] for i in indices["A"]], "B": [paths_b[i] for i in indices["B"]]}


def due(epoch: int, total: int, every: int) -> bool:
    """Validate every `every` epochs (0: only at the end), and always at the last epoch."""
    return epoch == total or (every > 0 and epoch % every == 0)


Selector = ValidationSelector | None
