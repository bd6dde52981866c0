"""translate keeps each input's size; exported generators load and run without nasplatform."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from nasplatform.cli import main
from nasplatform.engine.config import RetrainConfig, apply_overrides, from_dict
from nasplatform.engine.deploy import generator_for
from nasplatform.engine.retrain import run_retrain


@pytest.fixture(scope="module")
def run_dir(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy") / "run"
    cfg = apply_overrides(
        from_dict(RetrainConfig, {}),
        [
            f"data.root={tiny_data}",
            "hidden_dim=2",
            "ndf=4",
            "max_iters_per_epoch=2",
            "data.crop_size=32",
            "data.load_size=36",
            "n_epochs=1",
            "n_epochs_decay=0",
            "genotypes=cyclegan",
        ],
    )
    run_retrain(cfg, out, progress=False)
    return out


def test_translate_any_size(run_dir, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    sizes = {"a.png": (37, 21), "sub/b.jpg": (64, 48), "c.png": (5, 9)}
    for name, (w, h) in sizes.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(src / name)
    assert main(["translate", str(run_dir), "--direction", "BtoA", str(src), str(tmp_path / "out")]) == 0
    for name, size in sizes.items():
        out = (tmp_path / "out" / name).with_suffix(".png")
        assert Image.open(out).size == size


BLOCK_NASPLATFORM = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] == 'nasplatform':
            raise ImportError('nasplatform must not be needed')
sys.meta_path.insert(0, Block())
import torch
path, kind = sys.argv[1], sys.argv[2]
m = torch.export.load(path).module() if kind == 'pt2' else torch.jit.load(path)
x = torch.linspace(-1, 1, 3 * 40 * 44).reshape(1, 3, 40, 44)
torch.save(m(x), sys.argv[3])
assert 'nasplatform' not in sys.modules
"""


@pytest.mark.parametrize("fmt, suffix", [("pt2", ".pt2"), ("torchscript", ".ts.pt")])
@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_export_round_trip_without_nasplatform(run_dir, tmp_path, fmt, suffix):
    assert main(["export", str(run_dir), "--format", fmt, "--direction", "AtoB", "--out", str(tmp_path)]) == 0
    path = tmp_path / f"generator_AtoB{suffix}"
    result = tmp_path / "y.pt"
    subprocess.run(
        [sys.executable, "-c", BLOCK_NASPLATFORM, str(path), fmt, str(result)],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    x = torch.linspace(-1, 1, 3 * 40 * 44).reshape(1, 3, 40, 44)
    with torch.no_grad():
        expected = generator_for(run_dir, "AtoB")(x)
    assert torch.allclose(torch.load(result), expected, atol=1e-5)


def test_translate_bad_direction(run_dir, tmp_path):
    with pytest.raises(ValueError, match="direction"):
        generator_for(run_dir, "AtoC")


def test_translate_refuses_in_place_and_inside_input(run_dir, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(np.full((12, 12, 3), 200, np.uint8)).save(src / "x.png")
    before = (src / "x.png").read_bytes()
    for out in (src, src / "translated"):
        assert main(["translate", str(run_dir), "--direction", "AtoB", str(src), str(out)]) == 2
        assert "OUTPUT_DIR" in capsys.readouterr().err
    assert (src / "x.png").read_bytes() == before and not (src / "translated").exists()


def test_translate_never_writes_two_inputs_to_one_name(run_dir, tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.fromarray(np.full((12, 12, 3), 10, np.uint8)).save(src / "x.jpg")
    Image.fromarray(np.full((12, 12, 3), 240, np.uint8)).save(src / "x.png")
    assert main(["translate", str(run_dir), "--direction", "AtoB", str(src), str(out)]) == 2
    assert "x.jpg and x.png" in capsys.readouterr().err and not out.exists()
    (src / "x.jpg").rename(src / "y.jpg")
    out.mkdir()
    (out / "y.png").write_bytes(b"old")
    assert main(["translate", str(run_dir), "--direction", "AtoB", str(src), str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"2 PNG file(s) written to {out}, 1 of them replacing") and str(out / "y.png") in printed
    assert sorted(p.name for p in out.iterdir()) == ["x.png", "y.png"]


def test_translate_tiny_images(run_dir, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    sizes = [(s, s) for s in range(1, 9)] + [(500, 3), (3, 500)]
    for w, h in sizes:
        Image.fromarray(np.random.default_rng(w * h).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            src / f"{w}x{h}.png"
        )
    assert main(["translate", str(run_dir), "--direction", "AtoB", str(src), str(tmp_path / "out")]) == 0
    for w, h in sizes:
        assert Image.open(tmp_path / "out" / f"{w}x{h}.png").size == (w, h)
