"""The multi-node scenario of tests/test_cluster.py: a head and a worker on loopback run a --smoke grid; the worker
dies mid-trial; the trial ends on the head from its checkpoint.

What it shows, with nothing but this machine:

1. two Ray nodes started as separate `ray start --block` processes on the loopback interface (distinct
   ports, their own temp folders, 1 CPU each), joined with Ray token authentication (RAY_AUTH_MODE=token
   and a token file passed by RAY_AUTH_TOKEN_PATH to every node and to the driver, as on a real cluster).
   The nodes use the loopback addresses 127.0.0.2 (head) and 127.0.0.3 (worker): Ray 2.60 replaces
   127.0.0.1 itself by the machine's network address, and two addresses tell the nodes apart in Tune's
   results;
2. `nasplatform run SPEC --smoke --address 127.0.0.2:PORT` placing trials on both nodes (the node of each
   report is the `node_ip` Tune records in it; node ids come from `ray.nodes()`);
3. the worker node killed (SIGKILL of its `ray start` process; Ray's reaper takes its raylet and workers
   down) while a trial on it is between its last checkpoint and its end;
4. that trial retried by Tune on the head from its checkpoint: it reports `resumed_from_epoch` equal to the
   epoch of the checkpoint, re-runs no epoch up to it, and ends `ok` with every planned epoch done.

The experiment folder is read only through nasplatform/tune/collect.py (trials, their reports, the table) and
tune/status.py. Every process it starts leads a process group of its own, ended on the way out whatever happened
(tests/processes.py); every file is under one temporary folder, removed at the end unless keep. There is no time
limit: the grid may take any time while it makes progress (tests/processes.py, STALL_S).

    .venv/bin/python tests/multinode_scenario.py [--spec experiments/quickstart.yaml] [--keep]

prints the findings as one JSON object (the last line) and exits 0 when all of the above held.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: tests/processes.py

from processes import STALL_S, Progress, Stalled, end_group, run_watched, wait_while_progressing  # noqa: E402

from nasplatform.tune.collect import (  # noqa: E402
    checkpoint_names,
    read_stage,
    reported_results,
    reporting_trials,
)
from nasplatform.tune.experiment import STAGES  # noqa: E402
from nasplatform.tune.status import status_lines  # noqa: E402
from nasplatform.tune.storage import Storage, open_storage  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: Loopback addresses of the nodes (Linux routes all of 127.0.0.0/8 to the loopback interface).
NODE_IP = {"head": "127.0.0.2", "worker": "127.0.0.3"}
#: Ports of the two nodes, all distinct: Ray's defaults (6379, 8265, 10002-19999, ...) may be taken by
#: another cluster on a shared machine.
NODE_PORT_FLAGS = (
    "--node-manager-port",
    "--object-manager-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
)
HEAD_PORT_FLAGS = ("--port", "--dashboard-port")
WORKER_PORTS_PER_NODE = 24


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------- workspace, token, ports


@dataclass(frozen=True)
class Workspace:
    """Every file of the scenario, under one temporary folder (short: Ray's socket paths must stay < 108 bytes)."""

    root: Path

    @property
    def token_file(self) -> Path:
        return self.root / "auth_token"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def node_dir(self, name: str) -> Path:
        return self.root / name

    def env(self) -> dict[str, str]:
        """The environment of every Ray node and of the driver: token authentication on, the token from a
        file (never on a command line), caches in the workspace: nothing written to the home folder."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN_PATH=str(self.token_file),
            RAY_USAGE_STATS_ENABLED="0",
            NASPLATFORM_CACHE=str(self.root / "cache"),
            MPLCONFIGDIR=str(self.root / "matplotlib"),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(REPO),
            # Ray's default 30 s wait for the GCS port is not enough on a loaded machine
            RAY_gcs_server_port_wait_time_s="300",
        )
        return env


def make_workspace() -> Workspace:
    ws = Workspace(Path(tempfile.mkdtemp(prefix="nasmn-", dir="/tmp")))
    with os.fdopen(os.open(ws.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(secrets.token_hex(32))
    for folder in (ws.storage, ws.data):
        folder.mkdir()
    return ws


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortPicker:
    """Distinct free TCP ports (single ports from the OS, worker-port ranges checked one by one)."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def one(self) -> int:
        while True:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in self.taken:
                self.taken.add(port)
                return port

    def span(self, size: int) -> tuple[int, int]:
        for start in range(20000 + secrets.randbelow(20000), 60000, size):
            ports = range(start, start + size)
            if not self.taken.intersection(ports) and all(_port_free(p) for p in ports):
                self.taken.update(ports)
                return start, start + size - 1
        raise RuntimeError(f"no {size} consecutive free ports between 20000 and 60000")


# ---------------------------------------------------------------- the two Ray nodes


@dataclass
class RayNode:
    """One `ray start --block` process (a Ray node), leading the process group of the node's processes."""

    name: str
    process: subprocess.Popen
    log_file: Path
    ports: dict[str, int]
    node_id: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid


def start_node(name: str, ws: Workspace, ports: PortPicker, head_address: str | None, nodes: list[RayNode]) -> RayNode:
    """`ray start --block` for the head (head_address None) or a worker joining head_address; appended to NODES
    as soon as it runs, so that the caller stops it even if it never gets up."""
    temp_dir = ws.node_dir(name)
    flags = {flag: ports.one() for flag in NODE_PORT_FLAGS}
    low, high = ports.span(WORKER_PORTS_PER_NODE)
    command = [
        str(BIN / "ray"),
        "start",
        "--block",
        "--node-ip-address",
        NODE_IP[name],
        "--num-cpus",
        "1",
        "--num-gpus",
        "0",
        "--temp-dir",
        str(temp_dir),
        "--disable-usage-stats",
        "--min-worker-port",
        str(low),
        "--max-worker-port",
        str(high),
    ]
    if head_address is None:
        flags.update({flag: ports.one() for flag in HEAD_PORT_FLAGS})
        command += ["--head", "--include-dashboard", "false"]
    else:
        command += ["--address", head_address]
    for flag, port in flags.items():
        command += [flag, str(port)]
    log_file = ws.root / f"{name}.log"
    with open(log_file, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=ws.env(), cwd=ws.root, start_new_session=True
        )
    node = RayNode(name, process, log_file, flags)
    nodes.append(node)
    log(
        f"{name}: `ray start --block` pid {node.pid} at {NODE_IP[name]}, temp dir {temp_dir}, "
        + (f"GCS port {flags['--port']}" if head_address is None else f"joining {head_address}")
    )
    try:
        wait_while_progressing(
            process,
            Progress([log_file], [temp_dir]),
            f"{name} node start",
            until=lambda: "Ray runtime started" in log_file.read_text(errors="replace"),
        )
    except Stalled as exc:
        raise RuntimeError(f"{exc}; end of {log_file}:\n{log_file.read_text(errors='replace')[-3000:]}") from None
    if process.poll() is not None:
        tail = log_file.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{name} did not start (exit code {process.poll()}); end of {log_file}:\n{tail}")
    return node


def read_node_ids(nodes: list[RayNode], address: str, ws: Workspace) -> None:
    """Each node's Ray node id and CPUs, from `ray.nodes()` asked by a short driver (token auth on)."""
    probe = (
        f"import json, ray; ray.init(address={address!r}, logging_level='ERROR'); print(json.dumps("
        "[[n['NodeManagerAddress'], n['NodeID'], n['Resources'].get('CPU')] for n in ray.nodes() if n['Alive']]))"
    )
    out = run_watched([sys.executable, "-c", probe], env=ws.env())
    if out.returncode != 0:
        raise RuntimeError(f"ray.nodes() failed:\n{out.stderr[-3000:]}")
    alive = {ip: (node_id, cpus) for ip, node_id, cpus in json.loads(out.stdout.strip().splitlines()[-1])}
    for node in nodes:
        if NODE_IP[node.name] not in alive:
            raise RuntimeError(f"{node.name} ({NODE_IP[node.name]}) is not among the cluster's live nodes: {alive}")
        node.node_id, cpus = alive[NODE_IP[node.name]]
        log(f"{node.name}: Ray node id {node.node_id}, node IP {NODE_IP[node.name]}, {cpus:g} CPU")


def leftover_processes(ws: Workspace) -> list[tuple[int, str]]:
    """Processes still running whose command line or working folder lies in the workspace (there should be none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":  # exited, not reaped yet
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            if str(ws.root) in cmdline or cwd.startswith(str(ws.root)):
                found.append((int(entry.name), cmdline[:120]))
    return found


@contextlib.contextmanager
def cluster(ws: Workspace, cleanup: dict) -> Iterator[tuple[str, list[RayNode]]]:
    """A head and a worker node; both process groups ended on the way out, whatever happened (Ctrl-C too).
    cleanup["stragglers_killed"]: processes that outlived their node's group and were killed one by one."""
    ports, nodes = PortPicker(), []
    try:
        start_node("head", ws, ports, None, nodes)
        address = f"{NODE_IP['head']}:{nodes[0].ports['--port']}"
        start_node("worker", ws, ports, address, nodes)
        read_node_ids(nodes, address, ws)
        yield address, nodes
    finally:
        for node in reversed(nodes):
            end_group(node.process)
            log(f"{node.name}: stopped (pid {node.pid}, exit code {node.process.returncode})")
        cleanup["stragglers_killed"] = kill_stragglers(ws)


def kill_stragglers(ws: Workspace) -> int:
    """Last resort, by process id: anything of the workspace that outlived its node's process group
    (Ray's workers lead process groups of their own and exit on their own when their raylet dies)."""
    time.sleep(1.0)
    stragglers = leftover_processes(ws)
    for pid, cmdline in stragglers:
        log(f"left over after the nodes stopped: pid {pid} ({cmdline}); SIGKILL")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(stragglers)


# ---------------------------------------------------------------- which node ran what


def node_name(row: dict) -> str:
    return {ip: name for name, ip in NODE_IP.items()}.get(str(row.get("node_ip")), f"? ({row.get('node_ip')})")


def nodes_of(rows: list[dict]) -> list[str]:
    """The nodes that ran a trial, in the order they ran it, from the node IP of each report."""
    return list(dict.fromkeys(node_name(row) for row in rows))


def finished(rows: list[dict]) -> bool:
    return any("trial_status" in row for row in rows)


@dataclass
class Kill:
    """The interruption: which trial (Tune folder, trial folder), after which checkpoint, and how long until it
    reported again elsewhere."""

    trial: str = ""
    trial_id: str = ""
    checkpoint_epoch: int = 0
    killed_pid: int = 0
    at: float = 0.0
    resumed_after_s: float | None = None
    where: tuple[str, str] = field(default=("", ""))

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("at", "where")}


def victim(exp: Storage) -> tuple[str, str, list[dict]] | None:
    """A trial now running on the worker that has a checkpoint and has not finished: the one to interrupt."""
    for stage in STAGES:
        for folder, trial_dir in reporting_trials(exp, stage):
            rows = reported_results(exp, folder, trial_dir)
            if (
                rows
                and not finished(rows)
                and node_name(rows[-1]) == "worker"
                and rows[-1].get("epoch", 0) >= 1
                and checkpoint_names(exp, folder, trial_dir)
            ):
                return folder, trial_dir, rows
    return None


def rows_after_kill(rows: list[dict], kill: Kill) -> list[dict]:
    return [row for row in rows if int(row.get("pid", 0)) != kill.killed_pid]


# ---------------------------------------------------------------- the grid, the kill, the verdict


def build_data(ws: Workspace) -> None:
    """A tiny photo2winter (the quickstart's dataset): 8 train and 8 test images per domain, 32 px."""
    command = [
        str(BIN / "nasplatform"),
        "data",
        "demo",
        "--root",
        str(ws.data),
        "--stored-size",
        "32",
        "--n-train",
        "8",
        "--n-test",
        "8",
        "--no-progress",
    ]
    done = run_watched(command, env=ws.env(), watch=[ws.data])
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")


def drive(ws: Workspace, spec: str, overrides: list[str], address: str, worker: RayNode) -> tuple[Storage, Kill, int]:
    """Run the grid; kill the worker node once a trial on it has checkpointed and not finished. No time limit:
    it fails only when neither the driver's log nor the experiment folder changes for STALL_S seconds.
    Returns the experiment folder, the kill, and the driver's exit code."""
    command = [
        str(BIN / "nasplatform"),
        "run",
        spec,
        "--smoke",
        "--address",
        address,
        "--storage",
        str(ws.storage),
        "--data-root",
        str(ws.data),
        "--verbose",
        "0",
    ]
    for item in overrides:
        command += ["--set", item]
    log("driver: " + " ".join(command))
    driver_log = ws.root / "driver.log"
    kill = Kill()
    with open(driver_log, "wb") as out:
        driver = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=ws.env(), cwd=REPO, start_new_session=True
        )
    try:
        progress = Progress([driver_log], [ws.storage])
        while driver.poll() is None:
            if progress.stalled_for() > STALL_S:
                raise RuntimeError(
                    f"the grid made no progress for {STALL_S:g} s; end of {driver_log}:\n"
                    + driver_log.read_text(errors="replace")[-3000:]
                )
            experiments = sorted(p for p in ws.storage.iterdir() if p.is_dir())
            if experiments:
                after_kill(open_storage(experiments[0]), worker, kill)
            time.sleep(0.2)
    finally:
        end_group(driver)
    experiments = sorted(p for p in ws.storage.iterdir() if p.is_dir())
    if not experiments:
        raise RuntimeError(f"the driver wrote no experiment folder; see {driver_log}")
    return open_storage(experiments[0]), kill, driver.returncode


def after_kill(exp: Storage, worker: RayNode, kill: Kill) -> None:
    """Kill the worker when a victim shows up; then note when the killed trial reports again."""
    if not kill.trial:
        found = victim(exp)
        if found is None:
            return
        folder, trial_dir, rows = found
        worker.process.send_signal(signal.SIGKILL)  # a node crash: Ray's reaper takes the raylet and workers down
        kill.at = time.monotonic()
        kill.trial, kill.where, kill.trial_id = f"{folder}/{trial_dir}", (folder, trial_dir), str(rows[0]["trial_id"])
        kill.checkpoint_epoch, kill.killed_pid = int(rows[-1]["epoch"]), int(rows[-1]["pid"])
        log(
            f"worker: SIGKILL to its `ray start` (pid {worker.pid}) while trial {kill.trial_id} ({folder}) runs "
            f"there after its epoch-{kill.checkpoint_epoch} checkpoint"
        )
    elif kill.resumed_after_s is None and rows_after_kill(reported_results(exp, *kill.where), kill):
        kill.resumed_after_s = round(time.monotonic() - kill.at, 1)
        log(f"trial {kill.trial_id} reports again, {kill.resumed_after_s:g} s after the kill")


def resumed_trial_checks(rows: list[dict], final: dict, epochs_planned: int, kill: Kill) -> dict[str, bool]:
    """The killed trial went on on the head from its checkpoint: no epoch up to it ran again, every epoch done."""
    after = rows_after_kill(rows, kill)
    return {
        "resumed_on_head": bool(after) and {node_name(row) for row in after} == {"head"},
        "resumed_from_checkpoint_epoch": bool(after)
        and all(row.get("resumed_from_epoch") == kill.checkpoint_epoch for row in after),
        "no_epoch_repeated": all(
            int(row["epoch"]) > kill.checkpoint_epoch for row in after if "trial_status" not in row
        ),
        "resumed_trial_ok": final.get("trial_status") == "ok" and final.get("epochs_done") == epochs_planned,
    }


def verdict(exp: Storage, kill: Kill, driver_exit: int, nodes: list[RayNode]) -> dict:
    """The findings, from the experiment folder through tune/collect.py, and whether each claim held."""
    trials, killed_checks = [], {}
    for stage in STAGES:
        for record in read_stage(exp, stage):
            rows = reported_results(exp, record.folder, record.trial_dir) if record.trial_dir else []
            final = record.last_result
            trials.append(
                {
                    "trial": f"{record.folder}/{record.trial_dir}",
                    "trial_id": record.trial_id,
                    "nodes": nodes_of(rows),
                    "node_ips": sorted({r["node_ip"] for r in rows}),
                    "epochs_done": final.get("epochs_done"),
                    "epochs_planned": record.plan.epochs_planned,
                    "trial_status": record.status,
                    "resumed_from_epoch": final.get("resumed_from_epoch"),
                }
            )
            if kill.trial_id and record.trial_id == kill.trial_id:
                killed_checks = resumed_trial_checks(rows, final, record.plan.epochs_planned, kill)
    checks = {
        "trials_on_both_nodes": {"head", "worker"} <= {n for t in trials for n in t["nodes"]},
        "worker_killed_mid_trial": bool(kill.trial),
    }
    if kill.trial:
        checks.update(killed_checks or dict.fromkeys(resumed_trial_checks([], {}, -1, kill), False))
    checks["every_trial_ok"] = bool(trials) and all(t["trial_status"] == "ok" for t in trials)
    checks["results_parquet_written"] = exp.exists("results.parquet")
    checks["driver_exit_code_0"] = driver_exit == 0
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "killed": kill.to_dict(),
        "trials": trials,
        "status": status_lines(exp),
        "nodes": {n.name: {"node_id": n.node_id, "node_ip": NODE_IP[n.name]} for n in nodes},
    }


def print_trials(report: dict) -> None:
    for line in report.get("status", []):
        log(f"status: {line}")
    for t in report.get("trials", []):
        log(
            f"trial {t['trial_id']!s:>14}  nodes {'->'.join(t['nodes']):<14} epochs done {t['epochs_done']}  "
            f"resumed from epoch {t['resumed_from_epoch']}  status {t['trial_status']}"
        )
    for name, held in report.get("checks", {}).items():
        log(f"{'ok  ' if held else 'FAIL'} {name}")
    log(
        f"both nodes and the driver stopped by process group, {report.get('stragglers_killed')} straggler(s) killed "
        f"one by one, {report.get('leftover_processes')} process(es) of the workspace left"
    )


def run_scenario(
    spec: str = "experiments/quickstart.yaml", overrides: tuple[str, ...] = (), keep: bool = False
) -> dict:
    """The whole scenario; the report (see the module docstring). An exception in it is reported under "error"
    after everything it started is stopped; Ctrl-C stops everything too, and propagates."""
    ws = make_workspace()
    log(f"workspace {ws.root} (token file {ws.token_file}, RAY_AUTH_MODE=token on every node and the driver)")
    report: dict = {"ok": False}
    cleanup: dict = {}
    try:
        build_data(ws)
        with cluster(ws, cleanup) as (address, nodes):
            exp, kill, driver_exit = drive(ws, spec, list(overrides), address, nodes[1])
            report = verdict(exp, kill, driver_exit, nodes)
    except Exception as exc:  # noqa: BLE001 - the report still says what happened; the test reads it
        report["error"] = f"{type(exc).__name__}: {exc}"
        log(f"scenario failed: {report['error']}")
    finally:
        time.sleep(1.0)
        report.update(cleanup, leftover_processes=len(leftover_processes(ws)))
        report["ok"] = report["ok"] and report["leftover_processes"] == 0
        if keep:
            report["workspace"] = str(ws.root)
        else:
            shutil.rmtree(ws.root, ignore_errors=True)
    print_trials(report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="experiments/quickstart.yaml", help="spec to run with --smoke")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed on to `nasplatform run` (spec overrides)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, experiment)")
    args = parser.parse_args(argv)
    report = run_scenario(args.spec, tuple(args.overrides), args.keep)
    print(json.dumps(report, sort_keys=True))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
