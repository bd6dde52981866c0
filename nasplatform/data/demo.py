"""The embedded demo dataset photo2winter: crops of public-domain photos (A) and their "winter" versions (B).

The photos ship inside the scikit-image and scikit-learn wheels, so the dataset builds offline. Each photo is
split into a left and a right half; A's crops come from one half and B's from the other, so no pixel of a
photo is in both domains. B is passed through `winter_transform`, a fixed per-pixel map, which is why the true
B of every test A is known and written to `testA_true_B/`: a paired L1/PSNR can be reported next to FID.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from nasplatform.data.images import list_images

DEMO_NAME = "photo2winter"
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
# crop side as a fraction of the largest square that fits in a half photo
CROP_SCALE = (0.4, 1.0)
# the winter look: keep 35% of the colour, lift and compress brightness, cool (blue) tint
WINTER_SATURATION = 0.35
WINTER_GAIN = 0.8
WINTER_LIFT = 0.22
WINTER_TINT = (0.90, 0.98, 1.12)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_SPLIT_IDS = {"train": 0, "test": 1}
_DOMAIN_IDS = {"A": 0, "B": 1}


def winter_transform(image: np.ndarray) -> np.ndarray:
    """The fixed A->B map of photo2winter: desaturate, brighten, tint blue. HxWx3 uint8 -> HxWx3 uint8."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"winter_transform needs an HxWx3 uint8 array, got {image.dtype} {image.shape}")
    x = image.astype(np.float32) / 255.0
    gray = (x @ _LUMA)[..., None]
    x = gray + WINTER_SATURATION * (x - gray)
    x = (x * WINTER_GAIN + WINTER_LIFT) * np.array(WINTER_TINT, dtype=np.float32)
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def source_photos() -> dict[str, np.ndarray]:
    """The RGB photos bundled with scikit-image and scikit-learn (no download), by name."""
    try:
        from skimage import data as skdata
        from sklearn.datasets import load_sample_images
    except ImportError as exc:
        raise RuntimeError(
            f"the demo dataset needs scikit-image and scikit-learn ({exc}); "
            "install them with: pip install 'nasplatform[demo]'"
        ) from None
    photos = {name: getattr(skdata, name)() for name in SKIMAGE_PHOTOS}
    photos["motorcycle"] = skdata.stereo_motorcycle()[0]
    samples = load_sample_images()
    for filename, image in zip(samples.filenames, samples.images):
        photos[Path(filename).stem] = image
    return {name: np.ascontiguousarray(image[..., :3], dtype=np.uint8) for name, image in photos.items()}


def _half(photo: np.ndarray, photo_index: int, domain: str) -> np.ndarray:
    """A's half of a photo (left for even photo indices, right for odd) or B's (the other one)."""
    width = photo.shape[1] // 2
    left_for_a = photo_index % 2 == 0
    take_left = left_for_a if domain == "A" else not left_for_a
    return photo[:, :width] if take_left else photo[:, photo.shape[1] - width :]


def random_crop(half: np.ndarray, rng: np.random.Generator, image_size: int) -> np.ndarray:
    """A square crop of random scale and position inside `half`, randomly mirrored, resized to image_size."""
    height, width = half.shape[:2]
    side = max(1, int(round(rng.uniform(*CROP_SCALE) * min(height, width))))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = half[top : top + side, left : left + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    img = Image.fromarray(np.ascontiguousarray(crop)).resize((image_size, image_size), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def demo_item(photos: list[np.ndarray], split: str, domain: str, k: int, seed: int, image_size: int) -> np.ndarray:
    """Image k of split/domain: a crop of the domain's half of a random photo (winterized for B)."""
    rng = np.random.default_rng([seed, _SPLIT_IDS[split], _DOMAIN_IDS[domain], k])
    photo_index = int(rng.integers(len(photos)))
    crop = random_crop(_half(photos[photo_index], photo_index, domain), rng, image_size)
    return winter_transform(crop) if domain == "B" else crop


def _prepare_target(target: Path) -> None:
    if target.exists() and not (target / "dataset.json").is_file() and any(target.iterdir()):
        raise FileExistsError(
            f"{target} exists and is not a demo dataset (no dataset.json); choose another --root or remove it"
        )


def build_demo(
    root: str | Path,
    *,
    image_size: int = 64,
    n_train: int = 200,
    n_test: int = 50,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Write ROOT/photo2winter/{trainA,trainB,testA,testB,testA_true_B} as PNG plus dataset.json; return the folder.

    The same arguments give the same bytes. An earlier demo dataset in the same place is replaced.
    """
    if image_size < 8 or n_train < 1 or n_test < 1 or seed < 0:
        raise ValueError(
            f"demo needs image_size >= 8, n_train >= 1, n_test >= 1, seed >= 0; "
            f"got {image_size}, {n_train}, {n_test}, {seed}"
        )
    root = Path(root)
    target = root / DEMO_NAME
    _prepare_target(target)
    named = source_photos()
    photos = list(named.values())
    staging = root / f".{DEMO_NAME}.building"
    shutil.rmtree(staging, ignore_errors=True)
    jobs = [
        (split, domain, k) for split, n in (("train", n_train), ("test", n_test)) for domain in "AB" for k in range(n)
    ]
    for split, domain, k in tqdm(jobs, desc=f"building {DEMO_NAME}", unit="img", disable=not progress):
        pixels = demo_item(photos, split, domain, k, seed, image_size)
        _save(pixels, staging / f"{split}{domain}" / f"{k:04d}.png")
        if split == "test" and domain == "A":
            _save(winter_transform(pixels), staging / "testA_true_B" / f"{k:04d}.png")
    info = {
        "name": DEMO_NAME,
        "image_size": image_size,
        "n_train": n_train,
        "n_test": n_test,
        "seed": seed,
        "sources": list(named),
        "counts": {p.name: len(list_images(p)) for p in sorted(staging.iterdir())},
        "domain_split": "A from one half of each photo (left for even photo index), B from the other half",
        "crop_scale": list(CROP_SCALE),
        "winter_transform": {
            "saturation": WINTER_SATURATION,
            "gain": WINTER_GAIN,
            "lift": WINTER_LIFT,
            "tint_rgb": list(WINTER_TINT),
        },
    }
    (staging / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _save(pixels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")
