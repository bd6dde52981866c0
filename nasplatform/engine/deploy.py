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

from nasplatform.data.images import list_images, load_rgb, to_tensor, to_uint8
from nasplatform.engine.evaluate import load_generators
from nasplatform.engine.rundir import RunDirectory

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
def min_side(generator: nn.Module, device: str = "cpu") -> int:
    """The smallest side (a multiple of SIZE_MULTIPLE) the generator runs on: its reflection paddings need
    feature maps larger than the padding, and instance norm more than one pixel, at every resolution.
    Found by trying, once per generator."""
    if not hasattr(generator, "_min_side"):
        for side in range(SIZE_MULTIPLE, 1025, SIZE_MULTIPLE):
            try:
                generator(torch.zeros(1, 3, side, side, device=device))
            except (RuntimeError, ValueError):  # reflection padding too large; instance norm over one pixel
                continue
            generator._min_side = side
            break
        else:
            raise ValueError("the generator runs on no input of up to 1024x1024 pixels")
    return generator._min_side


def _pad_end(x: torch.Tensor, pad: int, dim: int) -> torch.Tensor:
    # reflect where the image is large enough, else repeat its last row/column (reflect needs pad < size)
    if pad == 0:
        return x
    pads = (0, pad, 0, 0) if dim == -1 else (0, 0, 0, pad)
    return F.pad(x, pads, mode="reflect" if x.shape[dim] > pad else "replicate")


@torch.inference_mode()
def translate_image(generator: nn.Module, image: Image.Image, device: str = "cpu") -> Image.Image:
    """Translate at the image's own size: pad (bottom, right) to a multiple of 4 and at least the generator's
    smallest input (min_side), run, crop back. Any size works, 1x1 included."""
    x = to_tensor(np.asarray(image, dtype=np.uint8)).unsqueeze(0).to(device)
    h, w = x.shape[-2:]
    least = min_side(generator, device)
    target_h, target_w = max(h + (-h) % SIZE_MULTIPLE, least), max(w + (-w) % SIZE_MULTIPLE, least)
    x = _pad_end(_pad_end(x, target_w - w, -1), target_h - h, -2)
    y = generator(x)[..., :h, :w]
    return Image.fromarray(to_uint8(y)[0])


class TranslateError(ValueError):
    """translate's input and output folders would lose or mix up images."""


def plan_outputs(input_dir: Path, output_dir: Path, files: list[Path]) -> dict[Path, Path]:
    """input file -> output PNG; refuses an output folder that is the input folder or inside it, an output
    that would replace an input, and two inputs that would be written to one name (x.jpg and x.png)."""
    src, dst = input_dir.resolve(), output_dir.resolve()
    if dst == src or src in dst.parents:
        raise TranslateError(
            f"OUTPUT_DIR {output_dir} is {'INPUT_DIR' if dst == src else 'inside INPUT_DIR'} "
            f"{input_dir}: the translations would overwrite or mix with the inputs; "
            "give an output folder outside it"
        )
    plan = {path: (output_dir / path.relative_to(input_dir)).with_suffix(".png") for path in files}
    by_output: dict[Path, list[Path]] = {}
    for path, out in plan.items():
        by_output.setdefault(out.resolve(), []).append(path)
    clashes = [paths for paths in by_output.values() if len(paths) > 1]
    if clashes:
        shown = "; ".join(" and ".join(str(p.relative_to(input_dir)) for p in paths) for paths in clashes[:5])
        raise TranslateError(
            f"{input_dir}: {len(clashes)} output name(s) would be written twice ({shown}"
            f"{'; ...' if len(clashes) > 5 else ''}): each input becomes NAME.png, so rename "
            "or move one of each"
        )
    inputs = {p.resolve() for p in files}
    hit = [out for out in plan.values() if out.resolve() in inputs]
    if hit:
        raise TranslateError(f"{hit[0]} is an input image and would be overwritten; give another OUTPUT_DIR")
    return plan


def translate_folder(
    run_dir: str | Path,
    direction: str,
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[list[Path], list[Path]]:
    """Every image under input_dir (recursively) -> a PNG of the same size and relative path under output_dir.

    Returns (written, replaced): every file written, and those of them that replaced a file already there."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    files = list_images(input_dir)
    if not files:
        raise FileNotFoundError(f"{input_dir}: no images (jpg, jpeg, png, bmp, webp) found")
    plan = plan_outputs(input_dir, output_dir, files)
    generator = generator_for(run_dir, direction, device=device)
    written, replaced = [], []
    for path in tqdm(files, desc=f"translate {direction}", disable=not progress):
        out = plan[path]
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            replaced.append(out)
        translate_image(generator, load_rgb(path), device).save(out)
        written.append(out)
    return written, replaced


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
