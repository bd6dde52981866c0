"""Experiment folders in object storage over the S3 protocol, against a real moto S3 server process on 127.0.0.1.

The quickstart's --smoke grid is written to s3://bucket/runs with AWS_ENDPOINT_URL pointing at the server, its
driver is SIGKILLed mid-run, `resume` finishes it from what is in the bucket, and `status` and `collect` read it
back from there: the same trials with the same statuses as the same grid run on a local disk.

Every command runs as its own process (`python -m nasplatform ...`) with the AWS variables set only there, as a
user would run it; each driver starts its own local Ray, with its files under one short temporary folder.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pytest
from conftest import make_cyclegan_layout
from processes import Progress, Stalled, wait_while_progressing

REPO = Path(__file__).resolve().parents[1]
MOTO_SERVER = Path(sys.executable).parent / "moto_server"
QUICKSTART = REPO / "experiments" / "quickstart.yaml"
BUCKET = "bucket"
EXPERIMENT = "quickstart-smoke"
#: What identifies a trial of the grid in the results table (trial ids differ from run to run).
TRIAL_COLUMNS = [
    "stage",
    "dataset",
    "scheme",
    "architecture",
    "seed",
    "repeat",
    "hidden_dim_a",
    "hidden_dim_b",
    "image_size",
    "epochs_planned",
]
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
pytestmark = pytest.mark.s3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, of a process that leads its own process group, and of that group."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def processes_under(root: Path) -> list[int]:
    """Process ids whose command line or working folder lies under `root` (Ray's processes name their temp dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(root) in cmdline or os.readlink(entry / "cwd").startswith(str(root)):
                found.append(int(entry.name))
    return found


def kill_processes_under(root: Path, wait_s: float) -> list[int]:
    """Wait up to `wait_s` for the processes under `root` to end by themselves; SIGKILL, by pid, those left."""
    deadline = time.monotonic() + wait_s
    while processes_under(root) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = processes_under(root)
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return left


@pytest.fixture(scope="module")
def workspace():
    # short: Ray's unix socket paths under it must stay below ~107 characters
    root = Path(tempfile.mkdtemp(prefix="s3t-", dir="/tmp"))
    try:
        yield root
    finally:
        kill_processes_under(root, wait_s=0)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def s3_endpoint(workspace):
    """`moto_server` on 127.0.0.1 (its own process group), with an empty bucket; always killed at the end."""
    port = free_port()
    with open(workspace / "moto.log", "wb") as log:
        server = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        endpoint = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(endpoint, timeout=2).close()
                return True
            return False

        # no clock: a busy machine may take long to start it; only a server that died or stalls fails
        with contextlib.suppress(Stalled):
            wait_while_progressing(server, Progress([workspace / "moto.log"]), "moto_server", until=answers)
        if not answers():
            pytest.fail(f"moto_server did not answer on {endpoint}:\n{(workspace / 'moto.log').read_text()[-2000:]}")
        s3_filesystem(endpoint).create_dir(BUCKET)
        yield endpoint
    finally:
        stop(server)


def s3_filesystem(endpoint: str) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        secret_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region=CREDENTIALS["AWS_DEFAULT_REGION"],
        endpoint_override=endpoint,
        scheme="http",
        allow_bucket_creation=True,
    )


def command_env(workspace: Path, ray_dir: str, endpoint: str | None) -> dict[str, str]:
    """The environment of one command: this worktree's package, Ray's files and the home folder (Ray's auth token)
    in the workspace, and the AWS variables for the S3 server when `endpoint` is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "AWS_"))}
    env.update(
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
        HOME=str(workspace / "home"),
        RAY_TMPDIR=str(workspace / ray_dir),
        RAY_USAGE_STATS_ENABLED="0",
        NASPLATFORM_CACHE=str(workspace / "cache"),
        MPLCONFIGDIR=str(workspace / "matplotlib"),
    )
    if endpoint:
        env.update(CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
    return env


def nasplatform(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "nasplatform", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )


def finish(process: subprocess.Popen, log: Path) -> int:
    """Wait for a command to end; any time while its log or the workspace changes (tests/processes.py)."""
    try:
        wait_while_progressing(process, Progress([log], [log.parent]), " ".join(map(str, process.args[3:])), poll_s=1.0)
    except Stalled as exc:
        stop(process)
        pytest.fail(f"{exc}; end of {log}:\n{log.read_text(errors='replace')[-3000:]}")
    return process.returncode


def run_to_end(args: list[str], env: dict[str, str], log: Path) -> tuple[int, str]:
    """Run a command to its end; its exit code and what it printed."""
    start = log.stat().st_size if log.exists() else 0
    code = finish(nasplatform(args, env, log), log)
    return code, log.read_bytes()[start:].decode(errors="replace")


def checkpointed_retrain_trials(fs: pafs.S3FileSystem) -> list[str]:
    """Retrain trial folders in the bucket that hold a checkpoint (the trial has done an epoch)."""
    try:
        infos = fs.get_file_info(pafs.FileSelector(f"{BUCKET}/runs/{EXPERIMENT}/retrain", recursive=True))
    except FileNotFoundError:
        return []
    return sorted(
        {
            i.path.split("/")[-2]
            for i in infos
            if i.type == pafs.FileType.Directory and i.base_name.startswith("checkpoint_")
        }
    )


def results_from_s3(fs: pafs.S3FileSystem) -> pd.DataFrame:
    with fs.open_input_file(f"{BUCKET}/runs/{EXPERIMENT}/results.parquet") as stream:
        return pd.read_parquet(io.BytesIO(stream.read()))


def trials(table: pd.DataFrame) -> list[tuple]:
    """The trials of a results table with their status and epochs done, in a stable order."""
    columns = TRIAL_COLUMNS + (["trial_key"] if "trial_key" in table.columns else [])
    rows = table[columns + ["status", "epochs_done"]].astype(object)
    found = [tuple(None if pd.isna(v) else v for v in row) for row in rows.itertuples(index=False)]
    return sorted(found, key=lambda row: [(v is None, str(v)) for v in row])


def test_quickstart_smoke_on_s3_survives_a_killed_driver(workspace, s3_endpoint):
    data = make_cyclegan_layout(workspace / "data" / "photo2winter", counts=(6, 6, 3, 3), size=40).parent
    grid = ["run", str(QUICKSTART), "--smoke", "--data-root", str(data), "--verbose", "0"]
    exp_uri = f"s3://{BUCKET}/runs/{EXPERIMENT}"
    fs = s3_filesystem(s3_endpoint)

    # the reference: the same grid on a local disk, no AWS variables at all
    code, printed = run_to_end(
        grid + ["--storage", str(workspace / "local")],
        command_env(workspace, "ray-local", None),
        workspace / "local.log",
    )
    assert code == 0, printed[-3000:]
    local = pd.read_parquet(workspace / "local" / EXPERIMENT / "results.parquet")

    # the grid on S3, its driver SIGKILLed once a retrain trial has a checkpoint in the bucket
    s3_env = command_env(workspace, "ray-s3", s3_endpoint)
    log = workspace / "s3.log"
    driver = nasplatform(grid + ["--storage", f"s3://{BUCKET}/runs"], s3_env, log)
    try:
        wait_while_progressing(
            driver,
            Progress([log], [workspace]),
            "the grid on S3",
            poll_s=0.5,
            until=lambda: bool(checkpointed_retrain_trials(fs)),
        )
    except Stalled as exc:
        pytest.fail(f"{exc}; no retrain checkpoint in the bucket:\n{log.read_text()[-3000:]}")
    assert driver.poll() is None, f"the driver ended before the kill:\n{log.read_text()[-3000:]}"
    driver.kill()
    assert driver.wait(30) == -signal.SIGKILL
    # the local Ray that driver started goes with it; whatever would not is killed, so nothing writes any more
    kill_processes_under(workspace / "ray-s3", wait_s=60)
    assert not fs.get_file_info(f"{BUCKET}/runs/{EXPERIMENT}/results.parquet").is_file, "the driver was not cut short"
    code, printed = run_to_end(["status", exp_uri], s3_env, log)
    assert code == 0 and f"experiment {EXPERIMENT}" in printed and exp_uri in printed, printed

    # resumed from the bucket alone: a new driver, a new local Ray
    code, printed = run_to_end(
        ["resume", exp_uri, "--verbose", "0"], command_env(workspace, "ray-resume", s3_endpoint), log
    )
    assert code == 0, printed[-3000:]
    kill_processes_under(workspace / "ray-resume", wait_s=60)

    code, printed = run_to_end(["status", exp_uri], s3_env, log)
    assert code == 0, printed
    searches, retrains = (local["stage"] == "search").sum(), (local["stage"] == "retrain").sum()
    assert f"search: {searches} trial(s): {searches} ok" in printed, printed
    assert f"retrain: {retrains} trial(s): {retrains} ok" in printed, printed

    fs.delete_file(f"{BUCKET}/runs/{EXPERIMENT}/results.parquet")  # collect must write it anew, from the bucket
    code, printed = run_to_end(["collect", exp_uri], s3_env, log)
    assert code == 0 and f"wrote {exp_uri}/results.parquet: {len(local)} trial row(s) ({len(local)} ok)" in printed, (
        printed
    )
    remote = results_from_s3(fs)
    assert (local["status"] == "ok").all() and len(local) == searches + retrains == 3
    assert trials(remote) == trials(local)
    assert remote["run_dir"].notna().all() and (remote.loc[remote["stage"] == "retrain", "fid_a2b"].notna()).all()
