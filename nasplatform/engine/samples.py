"""PNG grids of sample translations: a -> b' -> a'' and b -> a' -> b'' per row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nasplatform.engine.networks import CycleGANNetworks

#: Tiles are shown at least this many pixels wide.
MIN_TILE = 96


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW floats -> NHWC uint8."""
    images = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round()
    return images.permute(0, 2, 3, 1).cpu().numpy().astype(np.uint8)


@torch.no_grad()
def translation_grid(nets: CycleGANNetworks, real_a: torch.Tensor, real_b: torch.Tensor) -> Image.Image:
    """Rows: a | G_A(a) | G_B(G_A(a)) | b | G_B(b) | G_A(G_B(b)), one row per sample pair."""
    was_training = nets.g_a.training
    nets.train(False)
    try:
        fake_b, fake_a = nets.g_a(real_a), nets.g_b(real_b)
        columns = [real_a, fake_b, nets.g_b(fake_b), real_b, fake_a, nets.g_a(fake_a)]
    finally:
        nets.train(was_training)
    tiles = [to_uint8(c) for c in columns]
    rows = [np.concatenate([t[i] for t in tiles], axis=1) for i in range(real_a.shape[0])]
    grid = Image.fromarray(np.concatenate(rows, axis=0))
    # small demo images are enlarged (nearest, pixels kept visible) so the grid can be read
    scale = max(1, MIN_TILE // real_a.shape[-1])
    return grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST) if scale > 1 else grid


def save_samples(nets: CycleGANNetworks, real_a: torch.Tensor, real_b: torch.Tensor, folder: Path, epoch: int) -> Path:
    path = folder / f"epoch_{epoch:04d}.png"
    folder.mkdir(parents=True, exist_ok=True)
    translation_grid(nets, real_a, real_b).save(path)
    return path
