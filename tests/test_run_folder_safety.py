"""A run folder keeps one run's files: no silent overwrite, one writer, epoch files commit with checkpoints."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from processes import Progress, started, wait_while_progressing

from nasplatform.cli import main
from nasplatform.engine import loop
from nasplatform.engine.checkpoint import load_checkpoint
from nasplatform.engine.lock import FolderBusy, folder_lock
from nasplatform.engine.rundir import RunDirectory

REPO = Path(__file__).resolve().parents[1]
SMALL = [
    "--image-size",
    "32",
    "--hidden-dim",
    "2",
    "--n-cells",
    "3",
    "--no-progress",
    "--set",
    "max_iters_per_epoch=1",
    "--set",
    "ndf=4",
]


def search(data, out, *extra):
    return main(["search", "--data", str(data), *SMALL, "--out", str(out), *extra])


def retrain(data, out, genotypes):
    """One tiny retrain epoch of `genotypes` into `out`."""
    return main(
        ["retrain", "--data", str(data), "--image-size", "32", "--genotypes", str(genotypes), "--hidden-dim", "2"]
        + ["--epochs", "1", "--decay-epochs", "0", "--no-progress", "--set", "max_iters_per_epoch=1"]
        + ["--set", "ndf=4", "--out", str(out)]
    )


def snapshot(folder: Path) -> dict:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }  # the lock file names its latest holder


def test_folder_with_run_files_but_no_checkpoint_is_refused(tiny_data, tmp_path, capsys):
    out = tmp_path / "s"
    # a search that diverges in epoch 1 leaves config, metrics and genotypes but no checkpoint
    assert (
        search(tiny_data, out, "--epochs", "1", "--set", "loss.lambda_cyc=1e38", "--set", "max_iters_per_epoch=3") == 3
    )
    assert not (out / "checkpoints" / "last.pt").exists() and (out / "metrics.parquet").exists()
    before = snapshot(out)
    capsys.readouterr()
    assert search(tiny_data, out, "--epochs", "1", "--set", "seed=7") == 2
    err = capsys.readouterr().err
    assert "already holds run files" in err and f"--resume {out}" in err and "--out NEW_DIR" in err
    genotypes = tmp_path / "g.json"
    genotypes.write_text(json.dumps({"g_a": "cyclegan", "g_b": "cyclegan"}))
    assert retrain(tiny_data, out, genotypes) == 2
    assert "already holds run files" in capsys.readouterr().err
    assert snapshot(out) == before  # nothing of the first run was touched
    # --resume starts such a run again with its saved config (nothing was checkpointed, nothing is lost)
    assert main(["search", "--resume", str(out), "--no-progress"]) == 3
    assert "search diverged" in capsys.readouterr().out


def test_retrain_into_a_finished_search_is_refused(tiny_data, tmp_path, capsys):
    out = tmp_path / "s"
    assert search(tiny_data, out, "--epochs", "1") == 0
    before = snapshot(out)
    capsys.readouterr()
    assert retrain(tiny_data, out, out / "genotypes.json") == 2
    assert "holds another kind of run or file" in capsys.readouterr().err
    assert snapshot(out) == before


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_two_writers_one_folder_and_kill_9(tiny_data, tmp_path, capsys):
    out = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    with started(
        [
            sys.executable,
            "-m",
            "nasplatform",
            "search",
            "--data",
            str(tiny_data),
            *SMALL,
            "--epochs",
            "100000",
            "--out",
            str(out),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as first:
        # no clock: it may take any time while its run folder keeps changing
        wait_while_progressing(
            first, Progress(watch=[tmp_path]), "the first run", until=(out / "metrics.parquet").exists
        )
        assert first.poll() is None, first.stderr.read().decode()
        before = (out / "config.yaml").read_bytes()
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "nasplatform",
                "search",
                "--data",
                str(tiny_data),
                *SMALL,
                "--epochs",
                "1",
                "--set",
                "seed=5",
                "--out",
                str(out),
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert second.returncode == 2, second.stderr
        assert f"{out} is in use by pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
        assert (out / "config.yaml").read_bytes() == before
        # --resume takes the lock too
        assert main(["search", "--resume", str(out), "--no-progress"]) == 2
        assert "is in use by pid" in capsys.readouterr().err
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the kernel dropped the dead writer's lock: the folder is free again, without removing anything by hand
    assert (out / ".lock").exists()
    with folder_lock(out):
        with pytest.raises(FolderBusy):  # and the lock still excludes while held
            with folder_lock(out):
                pass


def fail_checkpoint_at(monkeypatch, epoch):
    real = loop.save_checkpoint

    def save(path, state):
        if state["epoch"] == epoch:
            Path(path).with_name(".last.pt.x.tmp").write_bytes(b"half")  # what a killed writer leaves behind
            raise OSError(28, "No space left on device")
        real(path, state)

    monkeypatch.setattr(loop, "save_checkpoint", save)


def epochs_of(out: Path) -> tuple[list, set, str]:
    metrics = pd.read_parquet(out / "metrics.parquet")
    alphas = pd.read_parquet(out / "alpha_history.parquet")
    return (
        metrics["epoch"].tolist(),
        set(alphas["epoch"]) - {0},
        (out / "genotypes.json").read_text(),
    )  # 0: initial alphas


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for f in (out, out / "checkpoints") for p in f.glob(".*") if p.name != ".lock")


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_failed_checkpoint_write_leaves_files_at_the_checkpoint(tiny_data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "s"
    fail_checkpoint_at(monkeypatch, 2)
    assert search(tiny_data, out, "--epochs", "3") != 0
    assert "No space left on device" in capsys.readouterr().err  # one line from the CLI, no traceback
    assert int(load_checkpoint(out / "checkpoints" / "last.pt")["epoch"]) == 1
    epochs, alpha_epochs, genotypes = epochs_of(out)
    assert epochs == [1] and alpha_epochs == {1}
    assert json.loads(genotypes)["g_a"] == json.loads(pd.read_parquet(out / "metrics.parquet")["genotype_g_a"][0])
    assert leftovers(out)  # the staged epoch-2 files and the half checkpoint are still there ...
    monkeypatch.undo()
    assert main(["search", "--resume", str(out), "--no-progress"]) == 0
    assert leftovers(out) == []  # ... until the next start removes them
    epochs, alpha_epochs, genotypes = epochs_of(out)
    assert epochs == [1, 2, 3] and alpha_epochs == {1, 2, 3}


def test_stop_between_checkpoint_and_commit_rolls_forward(tiny_data, tmp_path, monkeypatch):
    out = tmp_path / "s"

    def stop(self):
        if self._staging == 2:
            raise KeyboardInterrupt  # the process dies right after the epoch-2 checkpoint was written
        real_commit(self)

    real_commit = RunDirectory.commit
    monkeypatch.setattr(RunDirectory, "commit", stop)
    assert search(tiny_data, out, "--epochs", "3") == 130  # the CLI's Ctrl-C exit: one line, how to resume
    assert int(load_checkpoint(out / "checkpoints" / "last.pt")["epoch"]) == 2
    assert epochs_of(out)[0] == [1]  # the visible files still agree with each other (epoch 1) ...
    monkeypatch.undo()
    run = RunDirectory(out)
    run.recover(2)  # ... and the next start puts the checkpointed epoch's files in place
    epochs, alpha_epochs, genotypes = epochs_of(out)
    assert epochs == [1, 2] and alpha_epochs == {1, 2} and leftovers(out) == []
    assert json.loads(genotypes)["g_a"] == json.loads(pd.read_parquet(out / "metrics.parquet")["genotype_g_a"][1])
    assert main(["search", "--resume", str(out), "--no-progress"]) == 0
    assert epochs_of(out)[0] == [1, 2, 3]


def test_folder_with_inputs_only_is_reused_and_a_foreign_config_kept(tiny_data, tmp_path, capsys):
    out = tmp_path / "s"
    broken = tmp_path / "broken"
    (broken / "trainA").mkdir(parents=True)  # no trainB: the run stops before its first epoch
    assert search(broken, out, "--epochs", "1") == 2
    assert (out / "config.yaml").exists() and not RunDirectory(out).run_files()
    assert search(tiny_data, out, "--epochs", "1") == 0  # nothing was computed there: the fixed run may use it
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("learning_rate: 3\n")
    capsys.readouterr()
    assert search(tiny_data, mine, "--epochs", "1") == 2
    assert "holds another kind of run or file" in capsys.readouterr().err
    assert (mine / "config.yaml").read_text() == "learning_rate: 3\n"
