"""Paired error of translations against known true images: mean L1 (on [0, 1]) and PSNR (dB) per image."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nasplatform.data.images import list_images, load_rgb


def paired_error(pred_dir: str | Path, true_dir: str | Path) -> dict[str, float]:
    """Mean per-image L1 (on the [0, 1] scale) and PSNR (dB) of predictions against the true B images.

    Files are matched by path without suffix; every true image needs a prediction of the same size.
    Returns {"l1", "psnr", "n"}. PSNR of an exact match is capped at 100 dB.
    """
    pred_dir, true_dir = Path(pred_dir), Path(true_dir)
    preds = {p.relative_to(pred_dir).with_suffix("").as_posix(): p for p in list_images(pred_dir)}
    truths = {p.relative_to(true_dir).with_suffix("").as_posix(): p for p in list_images(true_dir)}
    if not truths:
        raise ValueError(f"no true images in {true_dir}")
    missing = sorted(set(truths) - set(preds))
    if missing:
        raise ValueError(
            f"{pred_dir} lacks predictions for {len(missing)} of the {len(truths)} images in "
            f"{true_dir}, e.g. {', '.join(missing[:5])}"
        )
    l1s, psnrs = [], []
    for key, true_path in truths.items():
        pred, true = (np.asarray(load_rgb(p), dtype=np.float64) / 255.0 for p in (preds[key], true_path))
        if pred.shape != true.shape:
            raise ValueError(
                f"{preds[key]} is {pred.shape[1]}x{pred.shape[0]} but {true_path} is "
                f"{true.shape[1]}x{true.shape[0]}: evaluate at the demo's image size"
            )
        mse = float(np.mean((pred - true) ** 2))
        l1s.append(float(np.mean(np.abs(pred - true))))
        psnrs.append(100.0 if mse <= 1e-10 else -10.0 * math.log10(mse))
    return {"l1": float(np.mean(l1s)), "psnr": float(np.mean(psnrs)), "n": len(truths)}
