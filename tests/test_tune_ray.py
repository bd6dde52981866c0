"""The Ray Tune platform on a real local Ray cluster: stages, retries, resume, collect without Ray, GPU checks, --smoke.

One Ray instance for the test session (2 CPUs), with its files, its auth token (HOME) and the FID cache in
one short temporary folder that is removed at the end.
"""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd
import pytest
import ray
import yaml
from conftest import make_cyclegan_layout
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nasplatform.cli import main
from nasplatform.space import genotype_from_json, named_genotype
from nasplatform.tune.collect import RESULT_COLUMNS, read_stage
from nasplatform.tune.plan import label_dims
from nasplatform.tune.runner import ExperimentError, alive_hosts, check_storage_reach
from nasplatform.tune.spec import ArchitectureLabel, load_spec, smoke_spec
from nasplatform.tune.storage import mount_type, open_storage, read_mounts

REPO = Path(__file__).resolve().parents[1]
TINY = {"ndf": 4, "data.max_images": 4, "max_iters_per_epoch": 2}
#: Each stage's own settings in these specs (epochs, H and N of the search; the retrain's schedule).
SEARCH = {"epochs": 2, "hidden_dim": 2, "n_cells": 3}
RETRAIN = {"n_epochs": 1, "n_epochs_decay": 1}


@pytest.fixture(scope="session")
def data_root(cluster):
    return make_cyclegan_layout(cluster / "data" / "tiny", counts=(6, 6, 3, 3), size=40).parent


def write_spec(folder: Path, name: str, search=None, retrain=None, **top) -> Path:
    spec = {
        "name": name,
        "figure": "quickstart",
        "datasets": ["tiny"],
        "image_size": 32,
        "resources": {"cpus": 1},
        "evaluate": {"enabled": False},
        **top,
    }
    if search is not None:
        spec["search"] = {"schemes": ["OF"], **search, "settings": {**SEARCH, **TINY, **search.get("settings", {})}}
    if retrain is not None:
        spec["retrain"] = {"repeats": 1, **retrain, "settings": {**RETRAIN, **TINY, **retrain.get("settings", {})}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run(spec: Path, storage: Path, data_root: Path, *extra: str) -> int:
    return main(["run", str(spec), "--storage", str(storage), "--data-root", str(data_root), "--verbose", "0", *extra])


def tensorboard_steps(run_dir: Path) -> dict[str, list[int]]:
    """Steps of each scalar and image tag in a run's TensorBoard folder, read with TensorBoard's own reader."""
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    found = {tag: [e.step for e in events.Scalars(tag)] for tag in tags["scalars"]}
    found.update({tag: [e.step for e in events.Images(tag)] for tag in tags["images"]})
    return found


def trial_tensorboard(trial: Path, scratch: Path) -> Path:
    """A folder holding the trial's `tb/` as of its newest checkpoint (tb.tar unpacked). The copy of the run
    folder in the trial folder is Ray's periodic sync of its staging folder, which can lag or miss a trial."""
    newest = max(trial.glob("checkpoint_*"))
    with tarfile.open(newest / "tb.tar") as archive:
        archive.extractall(scratch, filter="data")
    return scratch


def test_tiny_grid_runs_every_stage_and_collects_without_ray(cluster, data_root, tmp_path, capsys):
    spec = write_spec(
        tmp_path, "grid", search={}, retrain={"architectures": ["C2", "N2", "C'2"]}, evaluate={"enabled": True}
    )
    storage = tmp_path / "runs"
    assert run(spec, storage, data_root) == 0
    exp = storage / "grid"
    table = pd.read_parquet(exp / "results.parquet")
    assert list(table.columns) == list(RESULT_COLUMNS) and len(table) == 4
    assert (table["status"] == "ok").all() and table["error"].isna().all()
    search = table[table["stage"] == "search"].iloc[0]
    retrain = table[table["stage"] == "retrain"].set_index("architecture")
    assert set(retrain.index) == {"C2", "N2", "C'2"}
    assert retrain.loc["N2", "search_trial_id"] == retrain.loc["C'2", "search_trial_id"] == search["trial_id"]
    assert retrain.loc["N2", "genotype_g_a"] == search["genotype_g_a"]
    assert (retrain["discriminator"] == "patchgan").all() and pd.isna(search["discriminator"])
    assert retrain[["fid_a2b", "fid_b2a", "kid_a2b", "kid_b2a"]].notna().all().all()
    c2 = retrain.loc["C2"]
    assert c2["params_g_a"] == c2["ref_params_g_a"] == 11_843  # the cyclegan generator at H=2
    for label in retrain.index:
        run_dir = exp / retrain.loc[label, "run_dir"]
        assert (run_dir / "evaluation.json").is_file() and (run_dir / "final" / "g_a.pt").is_file()
    assert (exp / search["run_dir"] / "alpha_history.parquet").is_file()
    # the search row carries the final decisiveness of its metrics.parquet
    search_metrics = pd.read_parquet(exp / search["run_dir"] / "metrics.parquet").iloc[-1]
    assert 0 < search["alpha_entropy"] <= 1 and search["alpha_entropy"] == search_metrics["alpha_entropy"]
    assert search["genotype_stable_since"] == search_metrics["genotype_stable_since"]
    assert retrain[["alpha_entropy", "genotype_stable_since"]].isna().all().all()

    # every trial's TensorBoard events, one per epoch; `tensorboard --logdir EXP` finds them in the trial folders
    [search_record] = read_stage(open_storage(exp), "search")
    search_events = tensorboard_steps(trial_tensorboard(exp / "search" / search_record.trial_dir, tmp_path / "s"))
    for tag in ("loss/loss_g", "lr/lr", "samples", "alpha/softmax"):
        assert search_events[tag] == [1, 2], tag
    for record in read_stage(open_storage(exp), "retrain"):
        run_dir = trial_tensorboard(exp / "retrain" / record.trial_dir, tmp_path / record.trial_dir)
        steps = tensorboard_steps(run_dir)
        assert steps["loss/loss_g"] == steps["samples"] == [1, 2], record.plan.key
        evaluation = EventAccumulator(str(run_dir / "tb" / "evaluation"))
        evaluation.Reload()
        [fid] = evaluation.Scalars("evaluation/final/fid_a2b")
        assert fid.step == 2 and fid.value == pytest.approx(record.last_result["fid_a2b"]), record.plan.key
    assert not list(exp.rglob("checkpoint_*/**/*tfevents*"))  # checkpoints carry them as tb.tar only

    # one frame of the live view, from the folder alone
    capsys.readouterr()
    assert main(["status", str(exp), "--watch", "--count", "1", "--interval", "0"]) == 0
    frame = capsys.readouterr().out
    assert "\x1b[2J" not in frame  # no terminal control codes into a pipe
    search_line = next(line for line in frame.splitlines() if "tiny/OF/s0 " in line)
    search_metrics = pd.read_parquet(exp / search["run_dir"] / "metrics.parquet")
    assert "ok" in search_line and "epoch   2/2" in search_line
    assert f"loss_g={search_metrics['loss_g'].iloc[-1]:.3f}" in search_line
    assert "retrain: 3 trial(s): 3 ok" in frame and "ETA" in frame

    # collect rebuilds the same table in a fresh process that never imports Ray
    out = tmp_path / "again.parquet"
    code = (
        "import sys; from nasplatform.cli import main; rc = main(['collect', sys.argv[1], '-o', sys.argv[2]]); "
        "assert 'ray' not in sys.modules, 'collect imported ray'; sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(exp), str(out)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)

    # running the same spec again recomputes nothing
    states = sorted(exp.rglob("experiment_state-*.json"))
    capsys.readouterr()
    assert run(spec, storage, data_root) == 0
    assert sorted(exp.rglob("experiment_state-*.json")) == states
    printed = capsys.readouterr().out
    assert "search: all 1 trial(s) finished earlier" in printed and "retrain: 3 trial(s): 3 ok" in printed


def test_a_discriminator_list_retrains_searched_generators_with_each(cluster, data_root, tmp_path):
    spec = write_spec(
        tmp_path, "disc", search={}, retrain={"architectures": ["N2"], "discriminator": ["patchgan", "searched"]}
    )
    storage = tmp_path / "runs"
    assert run(spec, storage, data_root) == 0
    table = pd.read_parquet(storage / "disc" / "results.parquet")
    search = table[table["stage"] == "search"].iloc[0]
    retrain = table[table["stage"] == "retrain"].set_index("discriminator")
    assert sorted(retrain.index) == ["patchgan", "searched"] and (retrain["status"] == "ok").all()
    # the searched D_A/D_B are the search's derived ones; the official PatchGAN has no genotype
    assert retrain.loc["searched", "genotype_d_a"] == search["genotype_d_a"]
    assert retrain.loc["searched", "genotype_d_b"] == search["genotype_d_b"]
    assert pd.isna(retrain.loc["patchgan", "genotype_d_a"])


def test_a_failed_trial_is_retried_from_its_checkpoint(cluster, data_root, tmp_path, capsys):
    spec = write_spec(
        tmp_path,
        "retry",
        retrain={"architectures": ["C2"], "settings": {"n_epochs": 2, "n_epochs_decay": 0}, "fail_at_epoch": 1},
        max_failures=1,
    )
    assert run(spec, tmp_path / "runs", data_root) == 0
    exp = open_storage(tmp_path / "runs" / "retry")
    [record] = read_stage(exp, "retrain")
    assert record.status == "ok" and record.num_failures == 1
    assert record.last_result["resumed_from_epoch"] == 1 and record.last_result["epochs_done"] == 2
    metrics = pd.read_parquet(Path(exp.path("retrain", record.trial_dir, "run", "metrics.parquet")))
    assert metrics["epoch"].tolist() == [1, 2]
    # the retried attempt kept the first one's events of epoch 1 and added epoch 2's, each once
    steps = tensorboard_steps(trial_tensorboard(Path(exp.path("retrain", record.trial_dir)), tmp_path / "tb"))
    assert steps["loss/loss_g"] == steps["samples"] == [1, 2]

    # the same name with other settings is refused rather than mixed into this experiment
    capsys.readouterr()
    assert run(spec, tmp_path / "runs", data_root, "--set", "retrain.settings.n_epochs=3") == 2
    assert "retry with other settings (retrain.settings.n_epochs: 2 -> 3)" in capsys.readouterr().err


def test_missing_dataset_is_a_clear_error(cluster, data_root, tmp_path, capsys):
    spec = write_spec(tmp_path, "nodata", retrain={"architectures": ["C2"]}, datasets=["horse2zebra"])
    assert run(spec, tmp_path / "runs", data_root) == 2
    err = capsys.readouterr().err
    assert "dataset horse2zebra" in err and f"nasplatform data download horse2zebra --root {data_root}" in err


def test_resume_continues_an_errored_trial_from_its_last_checkpoint(cluster, data_root, tmp_path, capsys):
    spec = write_spec(tmp_path, "errored", search={"settings": {"epochs": 3}, "fail_at_epoch": 2}, max_failures=0)
    assert run(spec, tmp_path / "runs", data_root) == 1
    exp_dir = tmp_path / "runs" / "errored"
    capsys.readouterr()
    assert main(["status", str(exp_dir)]) == 0
    printed = capsys.readouterr().out
    assert "search: 1 trial(s): 1 error" in printed and "InjectedFailure" in printed
    [errored] = read_stage(open_storage(exp_dir), "search")
    assert errored.last_result["epoch"] == 2

    assert main(["resume", str(exp_dir), "--verbose", "0"]) == 0
    [record] = read_stage(open_storage(exp_dir), "search")
    assert record.status == "ok" and record.error is None
    assert record.last_result["resumed_from_epoch"] == 2 and record.last_result["epochs_done"] == 3
    trial_dir = exp_dir / "search" / record.trial_dir
    assert (trial_dir / "error.txt").is_file()  # the old failure stays on disk but does not count
    assert pd.read_parquet(trial_dir / "run" / "metrics.parquet")["epoch"].tolist() == [1, 2, 3]
    table = pd.read_parquet(exp_dir / "results.parquet")
    assert table["status"].tolist() == ["ok"] and table["epochs_done"].tolist() == [3]


def test_gpu_request_without_gpu_fails_at_once(cluster, data_root, tmp_path, capsys):
    spec = write_spec(tmp_path, "gpu", retrain={"architectures": ["C2"], "resources": {"gpus": 0.5}})
    # "at once": refused before Tune starts the stage (no retrain folder), not timed (a busy machine is slow)
    assert run(spec, tmp_path / "runs", data_root) == 2
    err = capsys.readouterr().err
    assert "0.5 GPU per retrain trial" in err and "no GPU" in err and "--smoke" in err and "--autoscaling" in err
    assert not (tmp_path / "runs" / "gpu" / "retrain").exists()


def test_autoscaling_lets_gpus_and_cpus_the_cluster_lacks_pass(cluster, data_root, tmp_path, capsys):
    # a dataset that is not there stops the run right after the cluster check, before Tune would wait for a GPU
    spec = write_spec(
        tmp_path,
        "autoscaled",
        retrain={"architectures": ["C2"], "resources": {"gpus": 1}},
        resources={"cpus": 8},
        datasets=["horse2zebra"],
    )
    assert run(spec, tmp_path / "runs", data_root, "--autoscaling") == 2
    captured = capsys.readouterr()
    assert "dataset horse2zebra" in captured.err and "GPU" not in captured.err and "CPUs" not in captured.err
    assert "--autoscaling: the spec's CPUs and GPUs are not checked" in captured.out
    assert run(spec, tmp_path / "runs", data_root, "--smoke", "--autoscaling") == 2
    assert "dropping the spec's GPU requests" not in capsys.readouterr().out


def test_resume_takes_the_cluster_flags(cluster, data_root, tmp_path, capsys):
    # an experiment recorded on an autoscaling GPU cluster, resumed where no GPU node is up yet
    from nasplatform.tune.experiment import ExperimentRecord, write_record

    spec = load_spec(
        write_spec(
            tmp_path, "gpu_later", retrain={"architectures": ["C2"], "resources": {"gpus": 1}}, datasets=["horse2zebra"]
        )
    )
    exp = open_storage(tmp_path / "runs").child(spec.name)
    write_record(exp, ExperimentRecord(spec, str(data_root)))
    assert main(["resume", exp.root, "--verbose", "0"]) == 2
    assert "--autoscaling" in capsys.readouterr().err
    assert main(["resume", exp.root, "--verbose", "0", "--autoscaling", "--storage-is-shared"]) == 2
    captured = capsys.readouterr()
    assert "dataset horse2zebra" in captured.err and "GPU" not in captured.err  # past the check, stopped on the data


def node(host: str, alive: bool = True) -> dict:
    """A ray.nodes() entry, reduced to the keys the storage check reads."""
    return {"NodeManagerHostname": host, "NodeManagerAddress": "10.0.0.9", "Alive": alive}


def test_local_storage_is_refused_on_several_machines(tmp_path):
    local = open_storage(tmp_path / "runs")
    assert not local.is_shared, "the test needs tmp_path on a node-local file system"
    check_storage_reach(local, "runs", [node("a"), node("a")], False)  # two nodes, one machine (the demo)
    check_storage_reach(local, "runs", [node("a"), node("b", alive=False)], False)
    check_storage_reach(local, "runs", [node("a"), node("b")], True)  # --storage-is-shared
    check_storage_reach(
        open_storage("gs://bucket/nasplatform"), "gs://bucket/nasplatform", [node("a"), node("b")], False
    )
    with pytest.raises(ExperimentError) as info:
        check_storage_reach(local, "runs", [node("head"), node("w1"), node("w1")], False)
    message = str(info.value)
    assert message.startswith(f"--storage runs is a folder on this machine's disk ({local.uri})")
    assert "2 machines (head, w1)" in message and "s3://" in message and "gs://" in message
    assert "--storage-is-shared" in message


def test_mount_type_takes_the_longest_mount_point():
    mounts = (
        "/dev/vda1 / ext4 rw 0 0\nserver:/export /mnt/nfs nfs4 rw 0 0\n"
        "server:/two /mnt/nfs\\040data nfs rw 0 0\ntmpfs /mnt/nfs/scratch tmpfs rw 0 0\n"
    )
    assert mount_type("/mnt/nfs/nasplatform/runs", mounts) == "nfs4" and mount_type("/mnt/nfs", mounts) == "nfs4"
    assert mount_type("/mnt/nfsx/runs", mounts) == "ext4" and mount_type("/mnt/nfs/scratch/x", mounts) == "tmpfs"
    assert mount_type("/mnt/nfs data/runs", mounts) == "nfs" and mount_type("/home/u", "") == ""
    assert mount_type("/mnt/nfs/x", mounts + "fuse /mnt/nfs fuse.juicefs rw 0 0\n") == "fuse.juicefs"  # mounted over
    if read_mounts():
        assert mount_type("/", read_mounts()) != ""


def test_single_node_cluster_takes_a_local_storage(cluster, tmp_path):
    nodes = ray.nodes()
    assert alive_hosts(nodes) == [socket.gethostname()]
    check_storage_reach(open_storage(tmp_path / "runs"), "runs", nodes, False)
    with pytest.raises(ExperimentError, match="--storage-is-shared"):
        check_storage_reach(
            open_storage(tmp_path / "runs"), "runs", nodes + [{**nodes[0], "NodeManagerHostname": "x"}], False
        )


@pytest.mark.parametrize("spec_path", sorted((REPO / "experiments").glob("*.yaml")), ids=lambda p: p.stem)
def test_smoke_runs_every_spec(cluster, tmp_path, spec_path, capsys):
    spec = load_spec(spec_path)
    for dataset in spec.datasets[:1]:
        make_cyclegan_layout(tmp_path / "data" / dataset, counts=(6, 6, 3, 3), size=40)
    assert run(spec_path, tmp_path / "runs", tmp_path / "data", "--smoke") == 0
    printed = capsys.readouterr().out
    if spec.retrain_resources.gpus:
        assert "dropping the spec's GPU requests" in printed
    small = smoke_spec(spec)
    table = pd.read_parquet(tmp_path / "runs" / small.name / "results.parquet")
    searches = len(small.search.schemes)
    per_dataset = sum(searches if lab.needs_search else 1 for lab in small.retrain.labels)
    assert (table["stage"] == "search").sum() == searches and (table["stage"] == "retrain").sum() == per_dataset
    assert (table["status"] == "ok").all() and (table["image_size"] == 32).all()
    assert table.loc[table["stage"] == "retrain", "fid_a2b"].notna().all()
    record = json.loads((tmp_path / "runs" / small.name / "experiment.json").read_text())
    assert record["spec"]["resources"]["gpus"] in (0, 0.0, None)


class Plant:
    """Unpickling this creates a file: the stand-in for an attacker's code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_resume_refuses_a_planted_pickle_and_runs_none_of_it(cluster, data_root, tmp_path, capsys):
    import pickle

    spec = write_spec(tmp_path, "planted", search={"settings": {"epochs": 3}, "fail_at_epoch": 2}, max_failures=0)
    assert run(spec, tmp_path / "runs", data_root) == 1  # an errored trial: resume would restore the stage
    exp_dir = tmp_path / "runs" / "planted"
    tuner_pkl = exp_dir / "search" / "tuner.pkl"
    original = tuner_pkl.read_bytes()
    marker = tmp_path / "code-ran"
    tuner_pkl.write_bytes(pickle.dumps(Plant(marker)))
    assert pickle.loads(tuner_pkl.read_bytes()) and marker.exists()  # the plant works when unpickled ...
    marker.unlink()
    capsys.readouterr()
    assert main(["resume", str(exp_dir), "--verbose", "0"]) == 2
    err = capsys.readouterr().err
    assert "search/tuner.pkl" in err and "changed since it was recorded" in err and "--trust-tune-state" in err
    assert not marker.exists()  # ... and resume did not unpickle it

    # a rewritten record does not help: it is signed with a key only this user reads
    record = json.loads((exp_dir / "tune_state_digests.json").read_text())
    import hashlib

    record["stages"]["search"]["tuner.pkl"] = hashlib.sha256(tuner_pkl.read_bytes()).hexdigest()
    (exp_dir / "tune_state_digests.json").write_text(json.dumps(record))
    assert main(["resume", str(exp_dir), "--verbose", "0"]) == 2
    assert "no record signed with this user's key" in capsys.readouterr().err and not marker.exists()

    # the user's own folder without a valid record: accepted on request, and it then resumes
    tuner_pkl.write_bytes(original)
    assert main(["resume", str(exp_dir), "--verbose", "0"]) == 2
    assert main(["resume", str(exp_dir), "--verbose", "0", "--trust-tune-state"]) == 0
    [record] = read_stage(open_storage(exp_dir), "search")
    assert record.status == "ok" and record.last_result["epochs_done"] == 3


def test_one_driver_per_experiment_folder(cluster, data_root, tmp_path, capsys):
    from nasplatform.tune.experiment import ExperimentRecord, write_record

    spec = load_spec(write_spec(tmp_path, "busy", retrain={"architectures": ["C2"]}))
    exp = open_storage(tmp_path / "runs").child(spec.name)
    write_record(exp, ExperimentRecord(spec, str(data_root)))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from nasplatform.engine.lock import folder_lock\n"
            "with folder_lock(sys.argv[1]):\n    print('held', flush=True); sys.stdin.read()",
            exp.root,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["resume", exp.root, "--verbose", "0"]) == 2
        assert f"is in use by pid {holder.pid}" in capsys.readouterr().err
        assert run(write_spec(tmp_path, "busy", retrain={"architectures": ["C2"]}), tmp_path / "runs", data_root) == 2
        assert "is in use by pid" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------- reusing a search, growing a grid, several experiments


@pytest.fixture(scope="module")
def combined(cluster, data_root, tmp_path_factory):
    """One finished quickstart-like experiment: an OF search, then C2 and N2 retrained with 2 repeats."""
    folder = tmp_path_factory.mktemp("combined")
    spec = write_spec(folder, "combined", search={}, retrain={"architectures": ["C2", "N2"], "repeats": 2})
    assert run(spec, folder / "runs", data_root) == 0
    return folder / "runs", pd.read_parquet(folder / "runs" / "combined" / "results.parquet")


def tree_digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_retrain_only_experiment_reuses_another_experiments_search(combined, data_root, tmp_path, capsys):
    storage, first = combined
    search = first[first["stage"] == "search"].iloc[0]
    spec = write_spec(
        storage.parent, "reuse", retrain={"architectures": ["N2", "C'2"], "genotypes_from": {"experiment": "combined"}}
    )
    assert run(spec, storage, data_root) == 0
    exp = storage / "reuse"
    assert not (exp / "search").exists() and not (exp / "plan_search.json").exists()  # no search trial ran
    table = pd.read_parquet(exp / "results.parquet")
    assert table["stage"].tolist() == ["retrain", "retrain"] and (table["status"] == "ok").all()
    rows = table.set_index("architecture")
    # the combined run's N2 and this N2 are size-matched from the same genotypes: the same H
    combined_n2 = first[(first["architecture"] == "N2") & (first["repeat"] == 0)].iloc[0]
    assert (rows.loc["N2", "hidden_dim_a"], rows.loc["N2", "hidden_dim_b"]) == (
        combined_n2["hidden_dim_a"],
        combined_n2["hidden_dim_b"],
    )
    assert rows.loc["N2", "genotype_g_a"] == search["genotype_g_a"] == combined_n2["genotype_g_a"]
    g_a, g_b = (genotype_from_json(search[f"genotype_{n}"]) for n in ("g_a", "g_b"))
    dims = label_dims(ArchitectureLabel.parse("C'2"), g_a, g_b)
    assert (rows.loc["C'2", "hidden_dim_a"], rows.loc["C'2", "hidden_dim_b"]) == (dims.hidden_dim_a, dims.hidden_dim_b)
    assert rows.loc["C'2", "genotype_g_a"] == named_genotype("cyclegan").to_json()
    for label in ("N2", "C'2"):
        source = json.loads(rows.loc[label, "genotype_source"])
        assert source["experiment"] == "combined" and source["search_key"] == "tiny/OF/s0"
        assert source["trial_id"] == search["trial_id"] == rows.loc[label, "search_trial_id"]
        assert source["uri"] == str(storage / "combined")
        assert rows.loc[label, "search_time_s"] == search["search_time_s"]

    # one table over both experiments and a copy of the first: the copy's rows are the same trials, dropped
    shutil.copytree(storage / "combined", tmp_path / "copy" / "combined")
    out = tmp_path / "both.parquet"
    capsys.readouterr()
    assert (
        main(["collect", str(storage / "combined"), str(exp), str(tmp_path / "copy" / "combined"), "-o", str(out)]) == 0
    )
    captured = capsys.readouterr()
    both = pd.read_parquet(out)
    assert list(both.columns) == list(RESULT_COLUMNS) and len(both) == len(first) + 2
    assert both["trial_key"].is_unique and set(both["experiment"]) == {"combined", "reuse"}
    assert captured.err.count("warning: trial combined/") == len(first)
    assert f"2 from reuse ({exp})" in captured.out
    pd.testing.assert_frame_equal(both.iloc[: len(first)].reset_index(drop=True), first)


def test_growing_the_repeats_runs_just_the_new_trials(combined, data_root, tmp_path, capsys):
    storage, first = combined
    shutil.copytree(storage / "combined", tmp_path / "runs" / "combined")  # grow a copy; the fixture stays as it is
    exp = tmp_path / "runs" / "combined"
    before = {stage: tree_digests(exp / stage) for stage in ("search", "retrain")}
    spec = write_spec(tmp_path, "combined", search={}, retrain={"architectures": ["C2", "N2"], "repeats": 3})
    capsys.readouterr()
    assert run(spec, tmp_path / "runs", data_root) == 0
    printed = capsys.readouterr().out
    assert "search: all 1 trial(s) finished earlier" in printed
    assert "retrain: the spec adds 2 trial(s) to the 4 planned earlier" in printed
    # exactly the new trials ran, in a Tune experiment of their own; the old trials' files are untouched
    [state] = (exp / "retrain-2").glob("experiment_state-*.json")
    new_trials = [json.loads(t)["config"]["plan"]["key"] for t, _ in json.loads(state.read_text())["trial_data"]]
    assert sorted(new_trials) == ["tiny/C2/r2", "tiny/N2/OF-s0/r2"]
    assert not (exp / "search-2").exists()
    assert {stage: tree_digests(exp / stage) for stage in ("search", "retrain")} == before
    table = pd.read_parquet(exp / "results.parquet")
    assert len(table) == len(first) + 2 and (table["status"] == "ok").all()
    old = table.set_index("trial_key").loc[first["trial_key"]]
    assert (old["trial_id"].tolist(), old["run_dir"].tolist()) == (
        first["trial_id"].tolist(),
        first["run_dir"].tolist(),
    )
    assert sorted(table.loc[table["architecture"] == "N2", "repeat"]) == [0, 1, 2]

    # running it again runs nothing; a setting of trials that ran is still refused, the keys named
    assert run(spec, tmp_path / "runs", data_root) == 0
    assert "retrain: all 6 trial(s) finished earlier" in capsys.readouterr().out
    assert run(spec, tmp_path / "runs", data_root, "--set", "retrain.n_epochs=2", "--set", "retrain.repeats=1") == 2
    err = capsys.readouterr().err  # the old spelling of the key in --set is moved into settings too
    assert "retrain.repeats: 3 -> 1; retrain.settings.n_epochs: 1 -> 2" in err and "may only add trials" in err
