"""The Ray Tune platform on a real local Ray cluster: all stages, retries, resume, collect without Ray, GPU checks, --smoke.

One Ray instance for the test session (2 CPUs), with its files, its auth token (HOME) and the FID cache in
one short temporary folder that is removed at the end.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
import yaml
from conftest import make_cyclegan_layout

from nasplatform.cli import main
from nasplatform.tune.collect import RESULT_COLUMNS, read_stage
from nasplatform.tune.runner import ExperimentError, alive_hosts, check_storage_reach
from nasplatform.tune.spec import load_spec, smoke_spec
from nasplatform.tune.storage import mount_type, open_storage, read_mounts

REPO = Path(__file__).resolve().parents[1]
TINY = {"ndf": 4, "data.max_images": 4, "max_iters_per_epoch": 2}


@pytest.fixture(scope="session")
def cluster():
    # a short root: Ray's unix socket paths must stay under ~107 characters
    root = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    saved = {k: os.environ.get(k) for k in ("HOME", "NASPLATFORM_CACHE")}
    os.environ.update(HOME=str(root / "home"), NASPLATFORM_CACHE=str(root / "cache"))
    ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=str(root / "ray"))
    try:
        yield root
    finally:
        ray.shutdown()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def data_root(cluster):
    return make_cyclegan_layout(cluster / "data" / "tiny", counts=(6, 6, 3, 3), size=40).parent


def write_spec(folder: Path, name: str, search=None, retrain=None, **top) -> Path:
    spec = {"name": name, "figure": "quickstart", "datasets": ["tiny"], "image_size": 32, "resources": {"cpus": 1},
            "evaluate": {"enabled": False}, **top}
    if search is not None:
        spec["search"] = {"schemes": ["OF"], "epochs": 2, "hidden_dim": 2, "n_cells": 3, "settings": TINY, **search}
    if retrain is not None:
        spec["retrain"] = {"repeats": 1, "n_epochs": 1, "n_epochs_decay": 1, "settings": TINY, **retrain}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def run(spec: Path, storage: Path, data_root: Path, *extra: str) -> int:
    return main(["run", str(spec), "--storage", str(storage), "--data-root", str(data_root), "--verbose", "0", *extra])


def test_tiny_grid_runs_every_stage_and_collects_without_ray(cluster, data_root, tmp_path, capsys):
    spec = write_spec(tmp_path, "grid", search={}, retrain={"architectures": ["C2", "N2", "C'2"]},
                      evaluate={"enabled": True})
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

    # collect rebuilds the same table in a fresh process that never imports Ray
    out = tmp_path / "again.parquet"
    code = ("import sys; from nasplatform.cli import main; rc = main(['collect', sys.argv[1], '-o', sys.argv[2]]); "
            "assert 'ray' not in sys.modules, 'collect imported ray'; sys.exit(rc)")
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


def test_a_failed_trial_is_retried_from_its_checkpoint(cluster, data_root, tmp_path, capsys):
    spec = write_spec(tmp_path, "retry", retrain={"architectures": ["C2"], "n_epochs": 2, "n_epochs_decay": 0,
                                                  "fail_at_epoch": 1}, max_failures=1)
    assert run(spec, tmp_path / "runs", data_root) == 0
    exp = open_storage(tmp_path / "runs" / "retry")
    [record] = read_stage(exp, "retrain")
    assert record.status == "ok" and record.num_failures == 1
    assert record.last_result["resumed_from_epoch"] == 1 and record.last_result["epochs_done"] == 2
    metrics = pd.read_parquet(Path(exp.path("retrain", record.trial_dir, "run", "metrics.parquet")))
    assert metrics["epoch"].tolist() == [1, 2]

    # the same name with other settings is refused rather than mixed into this experiment
    capsys.readouterr()
    assert run(spec, tmp_path / "runs", data_root, "--set", "retrain.repeats=2") == 2
    assert "retry with other settings (retrain differ)" in capsys.readouterr().err


def test_missing_dataset_is_a_clear_error(cluster, data_root, tmp_path, capsys):
    spec = write_spec(tmp_path, "nodata", retrain={"architectures": ["C2"]}, datasets=["horse2zebra"])
    assert run(spec, tmp_path / "runs", data_root) == 2
    err = capsys.readouterr().err
    assert "dataset horse2zebra" in err and f"nasplatform data download horse2zebra --root {data_root}" in err


def test_resume_continues_an_errored_trial_from_its_last_checkpoint(cluster, data_root, tmp_path, capsys):
    spec = write_spec(tmp_path, "errored", search={"epochs": 3, "fail_at_epoch": 2}, max_failures=0)
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
    start = time.perf_counter()
    assert run(spec, tmp_path / "runs", data_root) == 2
    assert time.perf_counter() - start < 30
    err = capsys.readouterr().err
    assert "0.5 GPU per retrain trial" in err and "no GPU" in err and "--smoke" in err and "--autoscaling" in err
    assert not (tmp_path / "runs" / "gpu" / "retrain").exists()


def test_autoscaling_lets_gpus_and_cpus_the_cluster_lacks_pass(cluster, data_root, tmp_path, capsys):
    # a dataset that is not there stops the run right after the cluster check, before Tune would wait for a GPU
    spec = write_spec(tmp_path, "autoscaled", retrain={"architectures": ["C2"], "resources": {"gpus": 1}},
                      resources={"cpus": 8}, datasets=["horse2zebra"])
    assert run(spec, tmp_path / "runs", data_root, "--autoscaling") == 2
    captured = capsys.readouterr()
    assert "dataset horse2zebra" in captured.err and "GPU" not in captured.err and "CPUs" not in captured.err
    assert "--autoscaling: the spec's CPUs and GPUs are not checked" in captured.out
    assert run(spec, tmp_path / "runs", data_root, "--smoke", "--autoscaling") == 2
    assert "dropping the spec's GPU requests" not in capsys.readouterr().out


def test_resume_takes_the_cluster_flags(cluster, data_root, tmp_path, capsys):
    # an experiment recorded on an autoscaling GPU cluster, resumed where no GPU node is up yet
    from nasplatform.tune.experiment import ExperimentRecord, write_record

    spec = load_spec(write_spec(tmp_path, "gpu_later", retrain={"architectures": ["C2"], "resources": {"gpus": 1}},
                                datasets=["horse2zebra"]))
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
    check_storage_reach(open_storage("gs://bucket/nasplatform"), "gs://bucket/nasplatform", [node("a"), node("b")], False)
    with pytest.raises(ExperimentError) as info:
        check_storage_reach(local, "runs", [node("head"), node("w1"), node("w1")], False)
    message = str(info.value)
    assert message.startswith(f"--storage runs is a folder on this machine's disk ({local.uri})")
    assert "2 machines (head, w1)" in message and "s3://" in message and "gs://" in message
    assert "--storage-is-shared" in message


def test_mount_type_takes_the_longest_mount_point():
    mounts = ("/dev/vda1 / ext4 rw 0 0\nserver:/export /mnt/nfs nfs4 rw 0 0\n"
              "server:/two /mnt/nfs\\040data nfs rw 0 0\ntmpfs /mnt/nfs/scratch tmpfs rw 0 0\n")
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
        check_storage_reach(open_storage(tmp_path / "runs"), "runs", nodes + [{**nodes[0], "NodeManagerHostname": "x"}],
                            False)


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
