"""PNG grids of sample translations: a -> b' -> a'' and b -> a' -> b'' per row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from nasplatform.data.dataset import ImageFolder
from nasplatform.data.images import to_uint8
from nasplatform.nets.build import CycleGANNetworks

#: Images per domain in every sample grid.
SAMPLE_COUNT = 4
#: Tiles are shown at least this many pixels wide.
MIN_TILE = 96


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


def fixed_samples(cfg, split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """The first few images of each domain, deterministic transform: the same rows in every sample grid."""
    root = Path(cfg.data.root)
    images = []
    for domain in ("A", "B"):
        folder = ImageFolder(root / f"{split}{domain}", cfg.data.crop_size, max_images=SAMPLE_COUNT)
        images.append(torch.stack([folder[i][0] for i in range(min(SAMPLE_COUNT, len(folder)))]))
    n = min(len(images[0]), len(images[1]))
    return images[0][:n].to(cfg.device), images[1][:n].to(cfg.device)
