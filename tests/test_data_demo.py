"""The embedded demo dataset photo2winter: layout, determinism, the winter map, disjoint halves and paired error."""

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nasplatform.cli import main
from nasplatform.data import UnpairedDataset, build_demo, winter_transform
from nasplatform.data.demo import _half
from nasplatform.engine.config import DataConfig
from nasplatform.evaluation.paired import paired_error

SPLITS = ("trainA", "trainB", "testA", "testB", "testA_true_B")


def digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return build_demo(tmp_path_factory.mktemp("demo"), image_size=32, n_train=6, n_test=3, seed=0, progress=False)


def test_layout_and_dataset_json(demo):
    assert demo.name == "photo2winter"
    counts = {"trainA": 6, "trainB": 6, "testA": 3, "testB": 3, "testA_true_B": 3}
    for split, n in counts.items():
        files = sorted((demo / split).glob("*.png"))
        assert len(files) == n
        with Image.open(files[0]) as img:
            assert img.size == (32, 32) and img.mode == "RGB"
    assert [p.name for p in sorted((demo / "testA_true_B").iterdir())] == [
        p.name for p in sorted((demo / "testA").iterdir())
    ]
    info = json.loads((demo / "dataset.json").read_text())
    assert info["counts"] == counts and info["image_size"] == 32 and info["seed"] == 0
    assert {"astronaut", "china", "flower"} <= set(info["sources"])


def test_same_arguments_same_bytes(demo, tmp_path):
    again = build_demo(tmp_path, image_size=32, n_train=6, n_test=3, seed=0, progress=False)
    assert digests(again) == digests(demo)
    other = build_demo(tmp_path / "s1", image_size=32, n_train=6, n_test=3, seed=1, progress=False)
    assert digests(other)["trainA/0000.png"] != digests(demo)["trainA/0000.png"]


def test_true_b_is_the_winter_map_of_test_a(demo):
    for path in sorted((demo / "testA").glob("*.png")):
        a = np.asarray(Image.open(path).convert("RGB"))
        true_b = np.asarray(Image.open(demo / "testA_true_B" / path.name).convert("RGB"))
        assert np.array_equal(winter_transform(a), true_b)


def test_winter_transform_desaturates_brightens_and_cools():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out = winter_transform(image).astype(float)
    spread = lambda x: (x.max(axis=2) - x.min(axis=2)).mean()  # noqa: E731 - a per-pixel saturation proxy
    assert spread(out) < 0.6 * spread(image.astype(float))
    gray = np.full((4, 4, 3), 128, dtype=np.uint8)
    b = winter_transform(gray)[0, 0].astype(int)
    assert b[2] > b[1] > b[0] and b.mean() > 128  # blue tint, brighter
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        winter_transform(image.astype(np.float32))


def test_domains_come_from_disjoint_halves():
    photo = np.tile(np.arange(11, dtype=np.int64)[None, :, None], (4, 1, 3))  # each pixel holds its column
    for index in (0, 1):
        cols_a = set(_half(photo, index, "A")[0, :, 0].tolist())
        cols_b = set(_half(photo, index, "B")[0, :, 0].tolist())
        assert cols_a and cols_b and not cols_a & cols_b and len(cols_a) == len(cols_b) == 5


def test_demo_images_differ_between_domains(demo):
    """B is not a copy of A's crops: no trainB image is the winter map of any trainA image."""
    a_winter = {winter_transform(np.asarray(Image.open(p))).tobytes() for p in (demo / "trainA").glob("*.png")}
    assert not a_winter & {np.asarray(Image.open(p)).tobytes() for p in (demo / "trainB").glob("*.png")}


def test_paired_error(demo, tmp_path):
    true = demo / "testA_true_B"
    assert paired_error(true, true) == {"l1": 0.0, "psnr": 100.0, "n": 3}
    shifted = tmp_path / "pred"
    shifted.mkdir()
    for path in true.glob("*.png"):
        pixels = np.asarray(Image.open(path)).astype(np.int64)
        assert pixels.min() >= 10  # the winter lift keeps every value well above 0, so -10 does not clip
        Image.fromarray((pixels - 10).astype(np.uint8)).save(shifted / path.name)
    err = paired_error(shifted, true)
    assert err["l1"] == pytest.approx(10 / 255) and err["psnr"] == pytest.approx(20 * math.log10(255 / 10))
    identity = paired_error(demo / "testA", true)  # translating nothing scores worse than a perfect map
    assert 0 < identity["l1"] < 1 and identity["psnr"] < 100
    (shifted / "0001.png").unlink()
    with pytest.raises(ValueError, match="lacks predictions for 1 of the 3"):
        paired_error(shifted, true)


def test_paired_error_size_mismatch(demo, tmp_path):
    pred = tmp_path / "pred"
    pred.mkdir()
    for name in ("0000", "0001", "0002"):
        Image.new("RGB", (16, 16)).save(pred / f"{name}.png")
    with pytest.raises(ValueError, match="16x16 but .* is 32x32"):
        paired_error(pred, demo / "testA_true_B")


def test_demo_loads_as_unpaired_dataset(demo):
    ds = UnpairedDataset(DataConfig(root=str(demo), load_size=36, crop_size=32), progress=False)
    assert len(ds) == 6 and ds[0]["a"].shape == (3, 32, 32)


def test_rebuild_replaces_and_foreign_folder_refused(tmp_path):
    build_demo(tmp_path, image_size=16, n_train=4, n_test=2, progress=False)
    build_demo(tmp_path, image_size=16, n_train=2, n_test=1, progress=False)
    assert len(list((tmp_path / "photo2winter" / "trainA").iterdir())) == 2
    foreign = tmp_path / "other"
    (foreign / "photo2winter").mkdir(parents=True)
    (foreign / "photo2winter" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a demo dataset"):
        build_demo(foreign, image_size=16, n_train=2, n_test=1, progress=False)
    assert (foreign / "photo2winter" / "mine.txt").read_text() == "keep me"


def test_cli_demo(tmp_path, capsys):
    assert (
        main(
            [
                "data",
                "demo",
                "--root",
                str(tmp_path),
                "--stored-size",
                "16",
                "--n-train",
                "3",
                "--n-test",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert str(tmp_path / "photo2winter") in out
    assert len(list((tmp_path / "photo2winter" / "testB").iterdir())) == 2
    assert main(["data", "demo", "--root", str(tmp_path), "--stored-size", "4"]) == 2
    assert "image_size >= 8" in capsys.readouterr().err
