"""Experiment folders on a real local Ray cluster: every trial keeps its run/, and status/collect tell the truth
about trials that lost their driver or their folder, and about state files they cannot use."""

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import make_cyclegan_layout

from nasplatform.cli import main

TINY = {"ndf": 2, "data.max_images": 3, "max_iters_per_epoch": 1}


@pytest.fixture(scope="module")
def experiment(cluster, tmp_path_factory):
    """A finished retrain-only experiment of three trials on two CPUs: the third runs on a reused actor."""
    data_root = make_cyclegan_layout(cluster / "data-errors" / "tiny", counts=(3, 3, 2, 2), size=28).parent
    spec = {
        "name": "reuse",
        "figure": "quickstart",
        "datasets": ["tiny"],
        "image_size": 24,
        "resources": {"cpus": 1},
        "evaluate": {"enabled": False},
        "retrain": {
            "architectures": ["C2"],
            "repeats": 3,
            "settings": {"n_epochs": 1, "n_epochs_decay": 0, **TINY},
        },
    }
    folder = tmp_path_factory.mktemp("exp")
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec))
    code = main(
        [
            "run",
            str(folder / "spec.yaml"),
            "--storage",
            str(folder / "runs"),
            "--data-root",
            str(data_root),
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    return folder / "runs" / "reuse"


def copy_of(exp: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(exp, tmp_path / "reuse"))


def test_every_trial_keeps_its_run_folder_and_the_table_points_at_it(experiment):
    table = pd.read_parquet(experiment / "results.parquet")
    assert len(table) == 3 and (table["status"] == "ok").all()
    for _, row in table.iterrows():
        # the trial's own folder, not one of Tune's checkpoints (trials on a reused actor used to lose run/)
        assert row["run_dir"].endswith("/run"), row["run_dir"]
        run = experiment / row["run_dir"]
        assert (run / "final" / "g_a.pt").is_file() and (run / "metrics.parquet").is_file()


def state_file(exp: Path) -> Path:
    [state] = (exp / "retrain").glob("experiment_state-*.json")
    return state


def edit_trials(exp: Path, change) -> None:
    """Apply `change(trial dict, index)` to every trial entry of the stage's Tune state."""
    path = state_file(exp)
    state = json.loads(path.read_text())
    entries = []
    for index, (trial, runtime) in enumerate(state["trial_data"]):
        trial = json.loads(trial)
        change(trial, index)
        entries.append([json.dumps(trial), runtime])
    state["trial_data"] = entries
    path.write_text(json.dumps(state))


def test_status_tells_interrupted_from_running_by_the_driver_lock(experiment, tmp_path, capsys):
    exp = copy_of(experiment, tmp_path)

    def first_running(trial, index):
        if index == 0:
            trial["status"] = "RUNNING"

    edit_trials(exp, first_running)
    assert main(["status", str(exp)]) == 0
    out = capsys.readouterr().out
    assert "retrain: 3 trial(s): 2 ok, 1 interrupted" in out
    assert (
        f"no driver is running this experiment: continue the 1 interrupted trial(s) with `nasplatform resume {exp}`"
        in out
    )

    # a live driver holds the folder's lock (engine/lock.py): then the trial is running
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(120)",
            str(exp / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["status", str(exp)]) == 0
        out = capsys.readouterr().out
        assert "retrain: 3 trial(s): 2 ok, 1 running" in out and "no driver" not in out
    finally:
        holder.kill()
        holder.wait()
    # the probe did not take the lock: a driver can still take it
    fd = os.open(exp / ".lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_collect_flags_a_trial_whose_folder_is_gone(experiment, tmp_path, capsys):
    exp = copy_of(experiment, tmp_path)
    table = pd.read_parquet(exp / "results.parquet")
    gone = Path(table["run_dir"].iloc[1]).parent
    shutil.rmtree(exp / gone)
    capsys.readouterr()
    assert main(["collect", str(exp)]) == 0
    err = capsys.readouterr().err
    trial_id = table["trial_id"].iloc[1]
    note = f"trial folder {gone} is missing (moved or deleted): its files are lost"
    assert f"nasplatform collect: warning: retrain trial {trial_id}: {note}" in err
    again = pd.read_parquet(exp / "results.parquet").set_index("trial_id")
    assert again.loc[trial_id, "error"] == note and pd.isna(again.loc[trial_id, "run_dir"])


def test_collect_into_a_folder_writes_results_parquet_there(experiment, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    assert main(["collect", str(experiment), "-o", str(tmp_path / "out")]) == 0
    assert f"wrote {tmp_path / 'out' / 'results.parquet'}: 3 trial row(s)" in capsys.readouterr().out
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "out" / "results.parquet"), pd.read_parquet(experiment / "results.parquet")
    )


def test_state_entry_without_config_is_named(experiment, tmp_path, capsys):
    exp = copy_of(experiment, tmp_path)

    def drop_config(trial, index):
        if index == 1:
            del trial["config"]

    edit_trials(exp, drop_config)
    assert main(["collect", str(exp)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{state_file(exp)}: trial entry 1 lacks config; the file was not written by Tune" in err
    assert main(["status", str(exp)]) == 2
    assert "trial entry 1 lacks config" in capsys.readouterr().err
