"""Using trained generators outside training: translate a user's images of any size, export standalone files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from nasplatform.engine.data.images import list_images, load_rgb, to_tensor
from nasplatform.engine.evaluate import load_generators
from nasplatform.engine.rundir import RunDirectory
from nasplatform.engine.samples import to_uint8

DIRECTIONS = {"AtoB": "g_a", "BtoA": "g_b"}
#: The generator halves the resolution twice, so inputs are padded to a multiple of this.
SIZE_MULTIPLE = 4
EXPORT_FORMATS = ("pt2", "torchscript")


def generator_for(run_dir: str | Path, direction: str, which: str = "final", device: str = "cpu") -> nn.Module:
    """G_A for AtoB, G_B for BtoA."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
    g_a, g_b = load_generators(RunDirectory(run_dir), which, device)
    return g_a if direction == "AtoB" else g_b


@torch.inference_mode()
def translate_image(generator: nn.Module, image: Image.Image, device: str = "cpu") -> Image.Image:
    """Translate at the image's own size: reflect-pad to a multiple of 4, run, crop back."""
    x = to_tensor(np.asarray(image, dtype=np.uint8)).unsqueeze(0).to(device)
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if min(h, w) > max(pad_h, pad_w) else "replicate")
    y = generator(x)[..., :h, :w]
    return Image.fromarray(to_uint8(y)[0])


def translate_folder(run_dir: str | Path, direction: str, input_dir: str | Path, output_dir: str | Path,
                     *, device: str = "cpu", progress: bool = True) -> list[Path]:
    """Every image under input_dir (recursively) -> a PNG of the same size and relative path under output_dir."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    files = list_images(input_dir)
    if not files:
        raise FileNotFoundError(f"{input_dir}: no images (jpg, jpeg, png, bmp, webp) found")
    generator = generator_for(run_dir, direction, device=device)
    written = []
    for path in tqdm(files, desc=f"translate {direction}", disable=not progress):
        out = (output_dir / path.relative_to(input_dir)).with_suffix(".png")
        out.parent.mkdir(parents=True, exist_ok=True)
        translate_image(generator, load_rgb(path), device).save(out)
        written.append(out)
    return written


def export_generator(run_dir: str | Path, direction: str, fmt: str, out: str | Path, example_size: int = 64) -> Path:
    """A standalone generator file: `pt2` (torch.export, loads with torch alone) or legacy `torchscript`.

    Inputs are (N, 3, H, W) in [-1, 1] with H and W multiples of 4; outputs the same shape in [-1, 1].
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, got {fmt!r}")
    generator = generator_for(run_dir, direction).eval()
    example = torch.zeros(1, 3, example_size, example_size)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "pt2":
        # sizes as 4*k so the export proves H and W stay divisible through both stride-2 stages
        k_h, k_w = torch.export.Dim("k_h", min=2, max=1024), torch.export.Dim("k_w", min=2, max=1024)
        shapes = {"x": {2: SIZE_MULTIPLE * k_h, 3: SIZE_MULTIPLE * k_w}}
        program = torch.export.export(generator, (example,), dynamic_shapes=shapes)
        torch.export.save(program, out)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript is deprecated in torch 2.14; this format is the legacy one
            torch.jit.save(torch.jit.trace(generator, example), out)
    return out
