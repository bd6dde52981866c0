"""Bad input through the command line: one clear line naming the flag, key or file, never a traceback."""

import errno
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
import yaml
from conftest import make_cyclegan_layout
from processes import Progress, started, wait_while_progressing

from nasplatform import atomic
from nasplatform.cli import main
from nasplatform.engine import checkpoint
from nasplatform.engine.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
#: the smallest search a run folder needs: 24 px is the platform's minimum image size
TINY = [
    "--epochs",
    "1",
    "--hidden-dim",
    "2",
    "--n-cells",
    "3",
    "--image-size",
    "24",
    "--no-progress",
    "--set",
    "ndf=2",
    "--set",
    "max_iters_per_epoch=2",
]


def one_error(capsys, name: str) -> str:
    """The single `nasplatform NAME: error: ...` message on stderr (no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(f"nasplatform {name}: error: "), err
    return err


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = make_cyclegan_layout(tmp_path_factory.mktemp("data") / "tiny", counts=(3, 3, 2, 2), size=28)
    # files of kinds the platform does not read: named once as ignored, not a failure
    (root / "trainA" / "anim.gif").write_bytes(b"GIF89a" + b"\0" * 20)
    (root / "trainA" / "scan.tiff").write_bytes(b"II*\0" + b"\0" * 20)
    (root / "trainB" / "phone.heic").write_bytes(b"\0" * 24)
    return root


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory) -> Path:
    """A finished one-epoch search, copied by each test that spoils it."""
    out = tmp_path_factory.mktemp("runs") / "base"
    old = os.umask(0o022)
    try:
        assert main(["search", "--data", str(data), *TINY, "--out", str(out)]) == 0
    finally:
        os.umask(old)
    return out


def copy_of(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


# ---------------------------------------------------------------- refused before a run folder exists


@pytest.mark.parametrize("command", ["search", "retrain"])
@pytest.mark.parametrize("size", [8, 16])
def test_too_small_image_size_is_refused_at_config_time(data, tmp_path, capsys, command, size):
    assert main([command, "--data", str(data), "--image-size", str(size), "--out", str(tmp_path / "run")]) == 2
    err = one_error(capsys, command)
    assert "data.crop_size: must be at least 24 (" in err and f"got {size}" in err
    assert "dil_conv5x5" in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("seed=4294967296", "seed: must be in 0..4294967295 (2**32 - 1), got 4294967296"),
        ("data.cache=mmap", "data.cache_dir: data.cache=mmap needs a folder for the memory-mapped images"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(data, tmp_path, capsys, setting, message):
    assert main(["search", "--data", str(data), *TINY, "--set", setting, "--out", str(tmp_path / "run")]) == 2
    assert message in one_error(capsys, "search")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_refused(data, tmp_path, capsys):
    assert main(["search", "--data", str(data), *TINY, "--set", "device=cuda", "--out", str(tmp_path / "run")]) == 2
    assert "device: 'cuda' asked, but this machine has no usable CUDA GPU" in one_error(capsys, "search")
    assert not (tmp_path / "run").exists()


def test_out_that_is_a_file_or_under_one_is_refused(data, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert main(["search", "--data", str(data), *TINY, "--out", str(afile)]) == 2
    assert f"--out {afile}: is a file, not a folder" in one_error(capsys, "search")
    assert main(["retrain", "--data", str(data), "--image-size", "24", "--out", str(afile / "sub")]) == 2
    assert f"--out {afile / 'sub'}: {afile} is a file" in one_error(capsys, "retrain")
    assert main(["translate", str(tmp_path), "--direction", "AtoB", str(data / "testA"), str(afile)]) == 2
    assert f"OUTPUT_DIR {afile}: is a file" in one_error(capsys, "translate")
    assert main(["export", str(tmp_path), "--out", str(afile / "x")]) == 2
    assert f"--out {afile / 'x'}: {afile} is a file" in one_error(capsys, "export")
    assert afile.read_text() == "keep me"


def test_config_that_is_not_utf8_is_named(data, tmp_path, capsys):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("seed: 1  # Größe\n".encode("latin-1"))
    assert main(["search", "--data", str(data), "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert f"{config}: not UTF-8 text (byte 0xf6 at offset 13)" in one_error(capsys, "search")


# ---------------------------------------------------------------- a run folder and --resume


def test_run_files_get_the_mode_of_any_new_file(finished):
    # not mkstemp's 0600 beside 0644 files: under umask 022 every run file is 0644
    assert (finished / "checkpoints" / "last.pt").is_file()
    files = [p for p in finished.rglob("*") if p.is_file()]
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o644}


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_ignored_image_kinds_are_named_once(data, tmp_path):
    # a real process: pytest would capture the warnings
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nasplatform",
            "search",
            "--data",
            str(data),
            "--scheme",
            "TH",
            *TINY,
            "--out",
            str(tmp_path / "run"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "ignoring" in line]
    assert lines == [
        f"nasplatform search: warning: {data / 'trainA'}: ignoring 2 file(s) of a kind not read here "
        "(GIF/TIF/TIFF/HEIC/HEIF/AVIF; use JPG/JPEG/PNG/BMP/WEBP): anim.gif, scan.tiff",
        f"nasplatform search: warning: {data / 'trainB'}: ignoring 1 file(s) of a kind not read here "
        "(GIF/TIF/TIFF/HEIC/HEIF/AVIF; use JPG/JPEG/PNG/BMP/WEBP): phone.heic",
    ]


@pytest.mark.parametrize(
    "flags", [["--epochs", "3"], ["--set", "seed=2"], ["--out", "elsewhere"], ["--image-size", "32"]]
)
def test_resume_refuses_flags_that_would_change_the_run(finished, tmp_path, capsys, flags):
    run = copy_of(finished, tmp_path)
    before = (run / "config.yaml").read_text()
    assert main(["search", "--resume", str(run), *flags]) == 2
    err = one_error(capsys, "search")
    assert f"--resume continues {run} with the config saved in it; {flags[0]} would change it" in err
    assert (run / "config.yaml").read_text() == before


def test_edited_config_before_resume_names_the_keys(finished, tmp_path, capsys):
    run = copy_of(finished, tmp_path)
    saved = yaml.safe_load((run / "config.yaml").read_text())
    saved["epochs"], saved["optim"]["lr"] = 2, 0.001
    (run / "config.yaml").write_text(yaml.safe_dump(saved))
    assert main(["search", "--resume", str(run), "--no-progress"]) == 2
    err = one_error(capsys, "search")
    assert (
        f"{run / 'config.yaml'} was changed after the checkpoint of epoch 1 was written: epochs (1 -> 2), "
        "optim.lr (0.0002 -> 0.001)"
    ) in err


@pytest.mark.parametrize("name", ["metrics.parquet", "alpha_history.parquet"])
def test_corrupt_run_table_is_named(finished, tmp_path, capsys, name):
    run = copy_of(finished, tmp_path)
    (run / "config.yaml").write_text((run / "config.yaml").read_text())
    (run / name).write_bytes(b"not parquet")
    assert main(["search", "--resume", str(run), "--no-progress"]) == 2
    assert f"{run / name}: not a readable table of this run (" in one_error(capsys, "search")


@pytest.mark.parametrize("state", [{"epoch": 1}, {"epoch": 1, "elapsed_s": 1.0, "job": {"networks": {}}, "rng": {}}])
def test_hand_made_checkpoint_is_refused(finished, tmp_path, capsys, state):
    run = copy_of(finished, tmp_path)
    torch.save(state, run / "checkpoints" / "last.pt")
    assert main(["search", "--resume", str(run), "--no-progress"]) == 2
    err = one_error(capsys, "search")
    assert f"checkpoint {run / 'checkpoints' / 'last.pt'} does not hold the state of this search run (KeyError" in err


def test_relative_data_resumes_elsewhere_and_data_relocates(data, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(data.parent)
    assert main(["search", "--data", data.name, *TINY, "--out", str(tmp_path / "run")]) == 0
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["data"]["root"] == str(data)
    # another working folder: the saved absolute path still finds the data (the run is complete: nothing to do)
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--resume", "run", "--no-progress"]) == 0
    # the dataset moved: the error says how to go on, and --data points the run at the new place
    moved = Path(shutil.move(str(data), str(tmp_path / "moved")))
    try:
        capsys.readouterr()
        assert main(["search", "--resume", "run", "--no-progress"]) == 2
        assert "if the dataset moved, continue with --resume run --data NEW_DIR" in one_error(capsys, "search")
        assert main(["search", "--resume", "run", "--data", str(moved), "--no-progress"]) == 0
        assert f"--data: {Path('run') / 'config.yaml'} now reads the dataset from {moved}" in capsys.readouterr().out
        assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["data"]["root"] == str(moved)
    finally:
        shutil.move(str(moved), str(data))


def test_full_disk_mid_run_keeps_the_last_checkpoint(data, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    real_fsync, calls = os.fsync, {"checkpoints": 0}

    def fsync(fd):
        # the first epoch's checkpoint goes through; every write after it finds the disk full
        if calls["checkpoints"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    real_save = checkpoint.save_checkpoint

    def save(path, state):
        real_save(path, state)
        calls["checkpoints"] += 1

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr("nasplatform.engine.loop.save_checkpoint", save)
    two = [*TINY[:1], "2", *TINY[2:]]
    assert main(["search", "--data", str(data), *two, "--out", str(run)]) == 2
    err = one_error(capsys, "search")
    # the file whose write failed is named (a failed write or fsync itself names none)
    assert re.search(
        rf"error: {re.escape(str(run))}/\S+: No space left on device; nothing already written was lost", err
    )
    assert f"then continue with `nasplatform search --resume {run}`" in err
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    monkeypatch.setattr("nasplatform.engine.loop.save_checkpoint", real_save)
    assert main(["search", "--resume", str(run), "--no-progress"]) == 0
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 2


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_ctrl_c_is_one_line_with_how_to_resume(data, tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    many = [*TINY[:1], "1000", *TINY[2:]]
    with started(
        [sys.executable, "-m", "nasplatform", "search", "--data", str(data), *many, "--out", str(run)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        # no clock: it may take any time while its run folder keeps changing
        wait_while_progressing(
            proc, Progress(watch=[tmp_path]), "nasplatform search", until=(run / "checkpoints" / "last.pt").exists
        )
        proc.send_signal(signal.SIGUSR1)  # "where is it?": stacks to stderr, and the run goes on
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        wait_while_progressing(proc, Progress(watch=[tmp_path]), "nasplatform search after SIGINT")
        err = proc.stderr.read()
    assert proc.returncode == 130
    lines = [line for line in err.splitlines() if "warning: " not in line]
    assert any("most recent call first" in line for line in lines) and "Traceback" not in err
    assert lines[-1] == f"nasplatform search: interrupted; continue with `nasplatform search --resume {run}`"


# ---------------------------------------------------------------- archives


def zip_with(path: Path, entries: list[tuple[zipfile.ZipInfo | str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return path


def symlink_entry(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [(symlink_entry("facades/link", "/etc"), "/etc"), ("facades/link/passwd", "x")],
            "entry 'facades/link' is a symbolic link",
        ),
        (
            [("facades/x", "a file"), ("facades/x/y.png", "x")],
            "entry 'facades/x/y.png' lies under 'facades/x', which the archive also holds as a file",
        ),
    ],
)
def test_zip_link_or_file_then_entry_under_it_is_refused(tmp_path, capsys, entries, message):
    zip_with(tmp_path / "root" / "facades.zip", entries)
    assert main(["data", "download", "facades", "--root", str(tmp_path / "root")]) == 2
    err = one_error(capsys, "data")
    assert f"refusing to extract {tmp_path / 'root' / 'facades.zip'}: {message}" in err
    assert not (tmp_path / "root" / "facades").exists()
