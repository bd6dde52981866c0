"""The unpaired dataset: decoding any image mode, bad files, split errors, pairing, transforms, RNG and caches."""

import gc
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nasplatform.data import DataError, ImageFolder, UnpairedDataset, list_images, load_rgb
from nasplatform.data.images import BadImageError
from nasplatform.engine.config import DataConfig


def write_images(folder: Path, n: int, seed: int, size=(20, 16)) -> list[Path]:
    """n random RGB images of size (w, h), named 000.png ... in a nested subfolder for half of them."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / ("sub" if i % 2 else "") / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def make_layout(root: Path, counts=(3, 5, 2, 2)) -> Path:
    for k, (split, n) in enumerate(zip(("trainA", "trainB", "testA", "testB"), counts)):
        write_images(root / split, n, seed=k)
    return root


def config(root: Path, **kw) -> DataConfig:
    return DataConfig(root=str(root), **{"load_size": 12, "crop_size": 8, **kw})


# ---- decoding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "value", "suffix", "expected", "tol"),
    [
        ("L", 100, ".png", (100, 100, 100), 0),
        ("RGBA", (10, 20, 30, 0), ".png", (10, 20, 30), 0),
        ("I;16", 257 * 100, ".png", (100, 100, 100), 0),
        ("CMYK", (0, 255, 255, 0), ".jpg", (255, 0, 0), 6),
        ("RGB", (40, 80, 120), ".webp", (40, 80, 120), 6),
        ("RGB", (40, 80, 120), ".bmp", (40, 80, 120), 0),
    ],
)
def test_load_rgb_converts_modes(tmp_path, mode, value, suffix, expected, tol):
    path = tmp_path / f"x{suffix}"
    Image.new(mode, (6, 4), value).save(path)
    img = load_rgb(path)
    assert img.mode == "RGB" and img.size == (6, 4)
    assert np.abs(np.asarray(img, dtype=int) - np.array(expected)).max() <= tol


def test_load_rgb_palette_with_and_without_transparency(tmp_path):
    img = Image.new("P", (5, 5), 1)
    img.putpalette([0, 0, 0, 200, 30, 60] + [0] * 762)
    img.save(tmp_path / "p.png")
    img.save(tmp_path / "pt.png", transparency=0)
    for name in ("p.png", "pt.png"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = np.asarray(load_rgb(tmp_path / name))
        assert out.shape == (5, 5, 3) and (out == (200, 30, 60)).all()


def test_load_rgb_applies_exif_orientation(tmp_path):
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)
    pixels[:, :10] = (255, 0, 0)  # left half red, right half blue
    pixels[:, 10:] = (0, 0, 255)
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = np.asarray(load_rgb(tmp_path / "r.jpg"), dtype=int)
    assert out.shape == (20, 10, 3)  # portrait after rotation
    assert out[2, 5, 0] > 200 and out[2, 5, 2] < 50  # the red half is now on top
    assert out[17, 5, 2] > 200 and out[17, 5, 0] < 50


def test_load_rgb_names_undecodable_file(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(BadImageError, match="broken.png"):
        load_rgb(bad)


def test_list_images_recursive_sorted_and_filtered(tmp_path):
    paths = write_images(tmp_path, 4, seed=0)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "._000.png").write_bytes(b"resource fork")
    (tmp_path / "UPPER.JPG").write_bytes(b"")
    found = list_images(tmp_path)
    rel = [p.relative_to(tmp_path).as_posix() for p in found]
    assert rel == sorted(rel) and "UPPER.JPG" in rel and "._000.png" not in rel and "notes.txt" not in rel
    assert set(paths) <= set(found)


# ---- opening: bad files, missing splits -------------------------------------------------------------


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


def test_corrupt_file_reported_at_open_by_path(tmp_path):
    root = make_layout(tmp_path / "d")
    truncate(root / "trainB" / "002.png")
    with pytest.raises(DataError, match=r"trainB/002\.png") as info:
        UnpairedDataset(config(root))
    assert "on_bad_image=skip" in str(info.value)


def test_corrupt_file_skipped_with_warning(tmp_path):
    root = make_layout(tmp_path / "d")
    truncate(root / "trainB" / "002.png")
    (root / "trainB" / "junk.jpg").write_bytes(b"\xff\xd8 garbage")
    with pytest.warns(UserWarning, match=r"002\.png") as record:
        ds = UnpairedDataset(config(root, on_bad_image="skip"))
    assert "junk.jpg" in str(record[0].message)
    assert ds.domain_size("B") == 4 and len(ds) == 4
    assert all(p.name not in ("002.png", "junk.jpg") for p in ds.paths_b)
    for i in range(len(ds)):
        assert ds[i]["b"].shape == (3, 8, 8)


def test_missing_split_lists_what_root_holds(tmp_path):
    root = tmp_path / "d"
    write_images(root / "trainA", 3, seed=0)
    (root / "README.txt").parent.mkdir(exist_ok=True)
    (root / "README.txt").write_text("hi")
    with pytest.raises(DataError) as info:
        UnpairedDataset(config(root))
    message = str(info.value)
    assert "trainB" in message and "missing" in message
    assert "trainA/ (3 images)" in message and "README.txt" in message


def test_empty_split_and_missing_root(tmp_path):
    root = tmp_path / "d"
    write_images(root / "trainA", 2, seed=0)
    (root / "trainB").mkdir()
    with pytest.raises(DataError, match="trainB has no usable images"):
        UnpairedDataset(config(root))
    with pytest.raises(DataError, match="does not exist"):
        UnpairedDataset(config(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="data.root is not set"):
        UnpairedDataset(DataConfig())


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="cache"):
        DataConfig(cache="disk")
    with pytest.raises(ValueError, match="on_bad_image"):
        DataConfig(on_bad_image="ignore")
    with pytest.raises(ValueError, match="crop_size"):
        DataConfig(load_size=64, crop_size=65)


def test_the_config_accepts_exactly_the_bad_image_policies_the_dataset_implements():
    # two spellings of one vocabulary, because data/ must not import the engine's config (tests/test_layers.py)
    from nasplatform.data import dataset
    from nasplatform.engine import config

    assert dataset.BAD_IMAGE_POLICIES == config.BAD_IMAGE_POLICIES


# ---- epochs and pairing -----------------------------------------------------------------------------


def test_epoch_length_and_pairing_longer_b(tmp_path):
    ds = UnpairedDataset(config(make_layout(tmp_path / "d")), seed=3)
    assert (ds.domain_size("A"), ds.domain_size("B"), len(ds)) == (3, 5, 5)
    items = [ds[i] for i in range(len(ds))]
    assert [it["b_index"] for it in items] == list(range(5))  # every B once per epoch
    partners = {ds_epoch_partner(ds, e) for e in range(6)}
    assert all(0 <= a < 3 for p in partners for a in p) and len(partners) > 1  # random A partner per epoch
    with pytest.raises(IndexError):
        ds[5]


def ds_epoch_partner(ds: UnpairedDataset, epoch: int) -> tuple[int, ...]:
    ds.set_epoch(epoch)
    return tuple(ds[i]["a_index"] for i in range(len(ds)))


def test_epoch_length_and_pairing_longer_a_with_restriction(tmp_path):
    root = make_layout(tmp_path / "d", counts=(6, 2, 2, 2))
    ds = UnpairedDataset(config(root))
    assert len(ds) == 6 and [ds[i]["a_index"] for i in range(6)] == list(range(6))
    sub = UnpairedDataset(config(root), indices_a=[1, 4], indices_b=[0, 1])
    assert len(sub) == 2 and sub.domain_size("A") == 6
    assert [sub[i]["a_index"] for i in range(2)] == [1, 4]
    sub_b = UnpairedDataset(config(root), indices_a=[5], indices_b=[0, 1])
    assert [sub_b[i]["b_index"] for i in range(2)] == [0, 1] and {sub_b[i]["a_index"] for i in range(2)} == {5}
    with pytest.raises(DataError, match="indices_a"):
        UnpairedDataset(config(root), indices_a=[6])
    with pytest.raises(DataError, match="indices_b is empty"):
        UnpairedDataset(config(root), indices_b=[])


# ---- transforms ------------------------------------------------------------------------------------


def test_train_items_shape_range_and_crops(tmp_path):
    root = make_layout(tmp_path / "d")
    ds = UnpairedDataset(config(root))
    item = ds[0]
    for key in ("a", "b"):
        assert item[key].shape == (3, 8, 8) and item[key].dtype == torch.float32
        assert item[key].min() >= -1.0 and item[key].max() <= 1.0
    # with crop == load and no flip, a train item is the plain resized image
    full = UnpairedDataset(config(root, load_size=8, flip=False))
    ref = ImageFolder(root / "trainA", 8)
    it = full[1]
    assert torch.equal(it["a"], ref[it["a_index"]][0])
    # crops vary across epochs (offsets and flips are random)
    views = set()
    for epoch in range(8):
        ds.set_epoch(epoch)
        views.add(ds[0]["a"].numpy().tobytes())
    assert len(views) > 1


def test_pixel_values_map_to_minus_one_one(tmp_path):
    root = tmp_path / "d"
    for split, colour in (("trainA", (0, 0, 0)), ("trainB", (255, 255, 255))):
        (root / split).mkdir(parents=True)
        Image.new("RGB", (16, 16), colour).save(root / split / "x.png")
    item = UnpairedDataset(config(root))[0]
    assert (item["a"] == -1).all() and (item["b"] == 1).all()


def test_flip_off_gives_unflipped_crops(tmp_path):
    root = tmp_path / "d"
    pixels = np.zeros((12, 12, 3), dtype=np.uint8)
    pixels[:, :6] = 255  # bright left half: a flipped crop would be bright on the right
    for split in ("trainA", "trainB"):
        (root / split).mkdir(parents=True)
        Image.fromarray(pixels).save(root / split / "x.png")
    ds = UnpairedDataset(config(root, load_size=12, crop_size=12, flip=False))
    flipped = UnpairedDataset(config(root, load_size=12, crop_size=12, flip=True))
    seen = set()
    for epoch in range(10):
        ds.set_epoch(epoch)
        flipped.set_epoch(epoch)
        assert ds[0]["a"][0, 6, 0] == 1.0
        seen.add(float(flipped[0]["a"][0, 6, 0]))
    assert seen == {1.0, -1.0}


def test_test_split_deterministic(tmp_path):
    root = make_layout(tmp_path / "d")
    ds = UnpairedDataset(config(root), split="test", seed=1)
    assert not ds.train and ds[0]["a"].shape == (3, 8, 8)
    by_index = {}
    for epoch in range(4):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            item = ds[i]
            for key, idx in (("a", item["a_index"]), ("b", item["b_index"])):
                prev = by_index.setdefault((key, idx), item[key])
                assert torch.equal(prev, item[key])
    folder = ImageFolder(root / "testA", 8)
    image, rel = folder[0]
    assert rel == "000.png" and torch.equal(image, by_index[("a", 0)])
    assert [folder[i][1] for i in range(len(folder))] == ["000.png", "sub/001.png"]


# ---- reproducibility --------------------------------------------------------------------------------


def test_same_seed_epoch_index_same_item(tmp_path):
    root = make_layout(tmp_path / "d")
    first = UnpairedDataset(config(root, cache="none"), seed=7)
    second = UnpairedDataset(config(root, cache="memory"), seed=7)
    first.set_epoch(3)
    second.set_epoch(3)
    for i in range(len(first)):
        torch.manual_seed(i)  # global RNG state must not matter
        np.random.seed(100 + i)
        x = first[i]
        torch.manual_seed(999)
        np.random.seed(999)
        y = second[i]
        assert torch.equal(x["a"], y["a"]) and torch.equal(x["b"], y["b"]) and x["a_index"] == y["a_index"]
    other_seed = UnpairedDataset(config(root), seed=8)
    other_seed.set_epoch(3)
    assert any(not torch.equal(other_seed[i]["a"], first[i]["a"]) for i in range(len(first)))


def test_dataloader_batches(tmp_path):
    ds = UnpairedDataset(config(make_layout(tmp_path / "d")))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0)))
    assert batch["a"].shape == (2, 3, 8, 8) and batch["b_index"].tolist() == [0, 1]


# ---- caches ----------------------------------------------------------------------------------------


def test_memory_cache_decodes_each_file_once(tmp_path):
    root = make_layout(tmp_path / "d")
    ds = UnpairedDataset(config(root, cache="memory"))
    assert ds.decodes == 3 + 5  # the check at open is the only decoding
    for epoch in range(3):
        ds.set_epoch(epoch)
        [ds[i] for i in range(len(ds))]
    half = UnpairedDataset(config(root, cache="memory"), indices_a=[0], indices_b=[1, 2])
    [half[i] for i in range(len(half))]
    assert ds.decodes == 8 and half.decodes == 8  # the second dataset shares the decoded images


def test_no_cache_decodes_on_every_access(tmp_path):
    ds = UnpairedDataset(config(make_layout(tmp_path / "d"), cache="none"))
    assert ds.decodes == 8  # the check at open
    [ds[i] for i in range(len(ds))]
    assert ds.decodes == 8 + 2 * len(ds)


def test_mmap_cache_built_reused_and_rebuilt(tmp_path):
    root = make_layout(tmp_path / "d", counts=(5, 3, 2, 2))  # A longer: item i shows A image i
    cache_dir = tmp_path / "cache"
    memory = UnpairedDataset(config(root, cache="memory"), seed=2)
    ds = UnpairedDataset(config(root, cache="mmap"), seed=2, cache_dir=str(cache_dir))
    assert ds.decodes == 8 and len(list(cache_dir.glob("*.npy"))) == 2
    assert all(torch.equal(ds[i]["a"], memory[i]["a"]) for i in range(len(ds)))
    blob = pickle.dumps(ds)
    assert len(blob) < 4096  # DataLoader workers reopen the file instead of copying it
    assert torch.equal(pickle.loads(blob)[1]["b"], ds[1]["b"])
    del ds, memory
    gc.collect()
    again = UnpairedDataset(config(root, cache="mmap", cache_dir=str(cache_dir)), seed=2)
    assert again.decodes == 0  # unchanged files: the cache is reused, nothing decoded
    old = again[0]["a"].clone()
    del again
    gc.collect()
    Image.new("RGB", (20, 16), (255, 255, 255)).save(root / "trainA" / "000.png")
    changed = UnpairedDataset(config(root, cache="mmap", cache_dir=str(cache_dir)), seed=2)
    assert changed.decodes == 5  # only the changed domain is decoded again
    assert (changed[0]["a"] == 1).all() and not torch.equal(old, changed[0]["a"])


def test_mmap_cache_keeps_bad_file_report(tmp_path):
    root = make_layout(tmp_path / "d")
    truncate(root / "trainA" / "000.png")
    cfg = config(root, cache="mmap", on_bad_image="skip", cache_dir=str(tmp_path / "c"))
    with pytest.warns(UserWarning, match="000.png"):
        ds = UnpairedDataset(cfg)
    del ds
    gc.collect()
    with pytest.raises(DataError, match="000.png"):  # reused cache, still reported under "error"
        UnpairedDataset(config(root, cache="mmap", cache_dir=str(tmp_path / "c")))


def test_mmap_needs_cache_dir(tmp_path):
    with pytest.raises(ValueError, match="cache_dir"):
        UnpairedDataset(config(make_layout(tmp_path / "d"), cache="mmap"))


def test_max_images_caps_each_domain(tmp_path):
    ds = UnpairedDataset(config(make_layout(tmp_path / "d"), max_images=2))
    assert ds.domain_size("A") == 2 and ds.domain_size("B") == 2 and ds.decodes == 4
    assert [p.name for p in ds.paths_b] == ["000.png", "002.png"]  # first in sorted order: 000, 002, 004, sub/...
