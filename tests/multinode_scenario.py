"""Multi-node Ray on one machine: a head and a worker on loopback run a --smoke grid; the worker dies mid-trial.

What it shows, with nothing but this machine:

1. two Ray nodes started as separate `ray start --block` processes on the loopback interface (distinct
   ports, their own temp folders, 1 CPU each), joined with Ray token authentication (RAY_AUTH_MODE=token
   and a token file passed by RAY_AUTH_TOKEN_PATH to every node and to the driver, as on a real cluster).
   The nodes use the loopback addresses 127.0.0.2 (head) and 127.0.0.3 (worker): Ray 2.60 replaces
   127.0.0.1 itself by the machine's network address, and two addresses tell the nodes apart in Tune's
   results;
2. `nasplatform run SPEC --smoke --address 127.0.0.2:PORT` placing trials on both nodes (the node of each
   trial is the `node_ip` Tune records in every result it reports; node ids come from `ray.nodes()`);
3. the worker node killed (SIGKILL of its `ray start` process; Ray's reaper takes its raylet and workers
   down) while a trial on it is between its last checkpoint and its end;
4. that trial retried by Tune on the head from its checkpoint: it reports `resumed_from_epoch` equal to the
   epoch of the checkpoint, re-runs no epoch up to it, and ends `ok` with every planned epoch done.

Everything it starts is stopped by process id (SIGTERM, then SIGKILL of the process group Ray's `ray start`
leads) and every file it writes is under one temporary folder, removed at the end unless --keep.
The last line of the output is one JSON object with the findings; the exit code is 0 when all of the
above held.

    .venv/bin/python scripts/multinode_demo.py [--spec experiments/quickstart.yaml] [--keep]
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: Seconds a stopped process gets to exit after SIGTERM before its process group is SIGKILLed.
STOP_GRACE_S = 15.0
#: Loopback addresses of the nodes (Linux routes all of 127.0.0.0/8 to the loopback interface).
NODE_IP = {"head": "127.0.0.2", "worker": "127.0.0.3"}
#: Ports of the two nodes, all distinct: Ray's defaults (6379, 8265, 10002-19999, ...) may be taken by
#: another cluster on a shared machine.
NODE_PORT_FLAGS = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                   "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")
HEAD_PORT_FLAGS = ("--port", "--dashboard-port")
WORKER_PORTS_PER_NODE = 24


def log(message: str) -> None:
    tqdm.write(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stdout)
    sys.stdout.flush()


# ---------------------------------------------------------------- workspace, token, ports


@dataclass(frozen=True)
class Workspace:
    """Every file of the demo, under one temporary folder (short: Ray's socket paths must stay < 108 bytes)."""

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
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_file), RAY_USAGE_STATS_ENABLED="0",
                   NASPLATFORM_CACHE=str(self.root / "cache"), MPLCONFIGDIR=str(self.root / "matplotlib"),
                   PYTHONUNBUFFERED="1")
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
    """One `ray start --block` process (a Ray node); its pid leads the process group of the node's processes."""

    name: str
    process: subprocess.Popen
    log_file: Path
    ports: dict[str, int]
    node_id: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid


def start_node(name: str, ws: Workspace, ports: PortPicker, head_address: Optional[str]) -> RayNode:
    """`ray start --block` for the head (head_address None) or a worker joining head_address."""
    temp_dir = ws.node_dir(name)
    flags = {flag: ports.one() for flag in NODE_PORT_FLAGS}
    low, high = ports.span(WORKER_PORTS_PER_NODE)
    command = [str(BIN / "ray"), "start", "--block", "--node-ip-address", NODE_IP[name], "--num-cpus", "1",
               "--num-gpus", "0", "--temp-dir", str(temp_dir), "--disable-usage-stats",
               "--min-worker-port", str(low), "--max-worker-port", str(high)]
    if head_address is None:
        flags.update({flag: ports.one() for flag in HEAD_PORT_FLAGS})
        command += ["--head", "--include-dashboard", "false"]
    else:
        command += ["--address", head_address]
    for flag, port in flags.items():
        command += [flag, str(port)]
    log_file = ws.root / f"{name}.log"
    with open(log_file, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=ws.env(), cwd=ws.root)
    node = RayNode(name, process, log_file, flags)
    log(f"{name}: `ray start --block` pid {node.pid} at {NODE_IP[name]}, temp dir {temp_dir}, "
        + (f"GCS port {flags['--port']}" if head_address is None else f"joining {head_address}"))
    wait_for_text(node, "Ray runtime started", timeout=90)
    return node


def wait_for_text(node: RayNode, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in node.log_file.read_text(errors="replace"):
            return
        if node.process.poll() is not None:
            break
        time.sleep(0.5)
    tail = node.log_file.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{node.name} did not start (exit code {node.process.poll()}); end of {node.log_file}:\n{tail}")


def read_node_ids(nodes: list[RayNode], address: str, ws: Workspace) -> None:
    """Each node's Ray node id and CPUs, from `ray.nodes()` asked by a short driver (token auth on)."""
    probe = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); print(json.dumps("
             "[[n['NodeManagerAddress'], n['NodeID'], n['Resources'].get('CPU')] for n in ray.nodes() if n['Alive']]))"
             % address)
    out = subprocess.run([sys.executable, "-c", probe], env=ws.env(), capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"ray.nodes() failed:\n{out.stderr[-3000:]}")
    alive = {ip: (node_id, cpus) for ip, node_id, cpus in json.loads(out.stdout.strip().splitlines()[-1])}
    for node in nodes:
        if NODE_IP[node.name] not in alive:
            raise RuntimeError(f"{node.name} ({NODE_IP[node.name]}) is not among the cluster's live nodes: {alive}")
        node.node_id, cpus = alive[NODE_IP[node.name]]
        log(f"{node.name}: Ray node id {node.node_id}, node IP {NODE_IP[node.name]}, {cpus:g} CPU")


def stop_process(process: subprocess.Popen, what: str, group: bool) -> None:
    """SIGTERM the process, then SIGKILL it (and, for a Ray node, the process group it leads) if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            log(f"{what} (pid {process.pid}) ignored SIGTERM for {STOP_GRACE_S:g} s: SIGKILL")
            process.kill()
            process.wait()
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def leftover_processes(ws: Workspace) -> list[tuple[int, str]]:
    """Processes still running whose command line or working folder lies in the workspace (there should be none)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            if str(ws.root) in cmdline or cwd.startswith(str(ws.root)):
                found.append((int(entry.name), cmdline[:120]))
    return found


@contextlib.contextmanager
def cluster(ws: Workspace, cleanup: dict) -> Iterator[tuple[str, list[RayNode]]]:
    """A head and a worker node; both stopped by process id on the way out, whatever happened.
    cleanup["stragglers_killed"]: processes that outlived their node's stop and were killed one by one."""
    ports, nodes = PortPicker(), []
    try:
        nodes.append(start_node("head", ws, ports, None))
        address = f"{NODE_IP['head']}:{nodes[0].ports['--port']}"
        nodes.append(start_node("worker", ws, ports, address))
        read_node_ids(nodes, address, ws)
        yield address, nodes
    finally:
        for node in reversed(nodes):
            stop_process(node.process, node.name, group=True)
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


@dataclass
class TrialTrace:
    """What one trial reported (its result.json rows); Tune adds `node_ip` and `pid` to every row."""

    stage: str
    folder: str
    rows: list[dict] = field(default_factory=list)

    @property
    def trial_id(self) -> str:
        return str(self.rows[0].get("trial_id", self.folder)) if self.rows else self.folder

    @property
    def finished(self) -> bool:
        return any("trial_status" in row for row in self.rows)

    @property
    def nodes(self) -> list[str]:
        """The nodes that ran the trial, in the order they ran it, from the node IP of each report."""
        return list(dict.fromkeys(node_name(row) for row in self.rows))


def node_name(row: dict) -> str:
    return {ip: name for name, ip in NODE_IP.items()}.get(str(row.get("node_ip")), f"? ({row.get('node_ip')})")


def has_checkpoint(folder: Path) -> bool:
    return any(p.is_dir() and p.name.startswith("checkpoint_") for p in folder.iterdir())


class Watcher:
    """Reads every trial's result.json under the experiment folder as the grid runs."""

    def __init__(self, experiment: Path):
        self.experiment = experiment
        self.traces: dict[str, TrialTrace] = {}

    def poll(self) -> None:
        for result in sorted(self.experiment.glob("*/*/result.json")):
            stage, folder = result.parent.parent.name, result.parent.name
            trace = self.traces.setdefault(f"{stage}/{folder}", TrialTrace(stage, folder))
            lines = result.read_text(errors="replace").splitlines()
            with contextlib.suppress(json.JSONDecodeError):  # the last line may be half written
                trace.rows = [json.loads(line) for line in lines if line.strip()]

    def victim(self) -> Optional[TrialTrace]:
        """A trial now running on the worker that has a checkpoint and has not finished: the one to interrupt."""
        for key, trace in self.traces.items():
            if (trace.rows and not trace.finished and node_name(trace.rows[-1]) == "worker"
                    and trace.rows[-1].get("epoch", 0) >= 1 and has_checkpoint(self.experiment / key)):
                return trace
        return None


# ---------------------------------------------------------------- the grid, the kill, the verdict


def build_data(ws: Workspace) -> None:
    """A tiny photo2winter (the quickstart's dataset): 8 train and 8 test images per domain, 32 px."""
    command = [str(BIN / "nasplatform"), "data", "demo", "--root", str(ws.data), "--image-size", "32",
               "--n-train", "8", "--n-test", "8", "--no-progress"]
    subprocess.run(command, env=ws.env(), check=True, capture_output=True, timeout=300)


def start_driver(ws: Workspace, spec: str, address: str, overrides: list[str]) -> subprocess.Popen:
    command = [str(BIN / "nasplatform"), "run", spec, "--smoke", "--address", address, "--storage", str(ws.storage),
               "--data-root", str(ws.data), "--verbose", "0"]
    for item in overrides:
        command += ["--set", item]
    log("driver: " + " ".join(command))
    with open(ws.root / "driver.log", "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=ws.env(), cwd=REPO)


@dataclass
class Kill:
    """The interruption: which trial, after which checkpoint, and how long until it reported again elsewhere."""

    trial: str = ""
    trial_id: str = ""
    checkpoint_epoch: int = 0
    killed_pid: int = 0
    at: float = 0.0
    resumed_after_s: Optional[float] = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "at"}


def drive(ws: Workspace, args: argparse.Namespace, address: str, worker: RayNode) -> tuple[Watcher, Kill, int]:
    """Run the grid; kill the worker node once a trial on it has checkpointed and not finished.
    Returns the trials' traces, the kill, and the driver's exit code."""
    driver = start_driver(ws, args.spec, address, args.overrides)
    kill = Kill()
    try:
        watcher = watch(ws, driver, worker, kill, args.timeout)
    finally:
        stop_process(driver, "driver", group=False)
    return watcher, kill, driver.returncode


def watch(ws: Workspace, driver: subprocess.Popen, worker: RayNode, kill: Kill, timeout: float) -> Watcher:
    """Follow the trials until the driver exits, killing the worker once (see maybe_kill)."""
    deadline = time.monotonic() + timeout
    watcher: Optional[Watcher] = None
    with tqdm(desc="trials finished", unit="trial") as bar:
        while driver.poll() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the grid did not finish within {timeout:g} s; see {ws.root / 'driver.log'}")
            experiments = sorted(p for p in ws.storage.iterdir() if p.is_dir())
            if experiments and watcher is None:
                watcher = Watcher(experiments[0])
            if watcher is not None:
                watcher.poll()
                bar.update(sum(t.finished for t in watcher.traces.values()) - bar.n)
                after_kill(watcher, worker, kill)
            time.sleep(0.2)
    if watcher is None:
        raise RuntimeError(f"the driver wrote no experiment folder; see {ws.root / 'driver.log'}")
    watcher.poll()
    return watcher


def after_kill(watcher: Watcher, worker: RayNode, kill: Kill) -> None:
    """Kill the worker when a victim shows up; then note when the killed trial reports again."""
    if not kill.trial:
        maybe_kill(watcher, worker, kill)
    elif kill.resumed_after_s is None and rows_after_kill(watcher.traces[kill.trial], kill):
        kill.resumed_after_s = round(time.monotonic() - kill.at, 1)
        log(f"trial {kill.trial_id} reports again, {kill.resumed_after_s:g} s after the kill")


def maybe_kill(watcher: Watcher, worker: RayNode, kill: Kill) -> None:
    victim = watcher.victim()
    if victim is None:
        return
    worker.process.send_signal(signal.SIGKILL)  # a node crash: Ray's reaper takes the raylet and workers down
    kill.at = time.monotonic()
    kill.trial, kill.trial_id = f"{victim.stage}/{victim.folder}", victim.trial_id
    kill.checkpoint_epoch, kill.killed_pid = int(victim.rows[-1]["epoch"]), int(victim.rows[-1]["pid"])
    log(f"worker: SIGKILL to its `ray start` (pid {worker.pid}) while trial {victim.trial_id} ({victim.stage}) "
        f"runs there after its epoch-{kill.checkpoint_epoch} checkpoint")


def rows_after_kill(trace: TrialTrace, kill: Kill) -> list[dict]:
    return [row for row in trace.rows if int(row.get("pid", 0)) != kill.killed_pid]


def final_row(trace: TrialTrace) -> dict:
    return next((row for row in reversed(trace.rows) if "trial_status" in row), {})


def epochs_planned(trace: TrialTrace) -> Optional[int]:
    """From the trial's plan, which Tune writes into every result row under config."""
    plan = (trace.rows[0].get("config") or {}).get("plan") if trace.rows else None
    return plan.get("epochs_planned") if isinstance(plan, dict) else None


def resumed_trial_checks(trace: TrialTrace, kill: Kill) -> dict[str, bool]:
    """The killed trial went on on the head from its checkpoint: no epoch up to it ran again, every epoch done."""
    after = rows_after_kill(trace, kill)
    final = final_row(trace)
    return {
        "resumed_on_head": bool(after) and {node_name(row) for row in after} == {"head"},
        "resumed_from_checkpoint_epoch": bool(after) and all(row.get("resumed_from_epoch") == kill.checkpoint_epoch
                                                             for row in after),
        "no_epoch_repeated": all(int(row["epoch"]) > kill.checkpoint_epoch
                                 for row in after if "trial_status" not in row),
        "resumed_trial_ok": final.get("trial_status") == "ok" and final.get("epochs_done") == epochs_planned(trace),
    }


def verdict(watcher: Watcher, kill: Kill, driver_exit: int, nodes: list[RayNode], ws: Workspace) -> dict:
    """The findings, and whether each claim of the demo held."""
    trials = [{"trial": key, "trial_id": t.trial_id, "nodes": t.nodes,
               "node_ips": sorted({r["node_ip"] for r in t.rows}),
               "epochs_done": final_row(t).get("epochs_done"), "epochs_planned": epochs_planned(t),
               "trial_status": final_row(t).get("trial_status"),
               "resumed_from_epoch": final_row(t).get("resumed_from_epoch")}
              for key, t in sorted(watcher.traces.items())]
    checks = {"trials_on_both_nodes": {"head", "worker"} <= {n for t in trials for n in t["nodes"]},
              "worker_killed_mid_trial": bool(kill.trial)}
    if kill.trial:
        checks.update(resumed_trial_checks(watcher.traces[kill.trial], kill))
    checks["every_trial_ok"] = bool(trials) and all(t["trial_status"] == "ok" for t in trials)
    checks["results_parquet_written"] = (watcher.experiment / "results.parquet").is_file()
    checks["driver_exit_code_0"] = driver_exit == 0
    return {"ok": all(checks.values()), "checks": checks, "killed": kill.to_dict(), "trials": trials,
            "nodes": {n.name: {"node_id": n.node_id, "node_ip": NODE_IP[n.name]} for n in nodes}}


def print_trials(report: dict) -> None:
    for t in report["trials"]:
        log(f"trial {t['trial_id']:>14}  nodes {'->'.join(t['nodes']):<14} epochs done {t['epochs_done']}  "
            f"resumed from epoch {t['resumed_from_epoch']}  status {t['trial_status']}")
    for name, held in report["checks"].items():
        log(f"{'ok  ' if held else 'FAIL'} {name}")
    log(f"stopped by process id: both nodes and the driver, {report['stragglers_killed']} straggler(s) killed one by "
        f"one, {report['leftover_processes']} process(es) of the workspace left")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="experiments/quickstart.yaml", help="spec to run with --smoke")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the grid may take (default 300)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="passed on to `nasplatform run` (spec overrides)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, experiment)")
    args = parser.parse_args(argv)
    ws = make_workspace()
    log(f"workspace {ws.root} (token file {ws.token_file}, RAY_AUTH_MODE=token on every node and the driver)")
    report: dict = {"ok": False}
    try:
        build_data(ws)
        cleanup: dict = {}
        with cluster(ws, cleanup) as (address, nodes):
            watcher, kill, driver_exit = drive(ws, args, address, nodes[1])
            report = verdict(watcher, kill, driver_exit, nodes, ws)
        time.sleep(1.0)
        report.update(cleanup, leftover_processes=len(leftover_processes(ws)))
        report["ok"] = report["ok"] and report["leftover_processes"] == 0
        print_trials(report)
    except Exception as exc:  # the verdict line is still printed: the test reads it
        report["error"] = f"{type(exc).__name__}: {exc}"
        log(f"demo failed: {report['error']}")
    finally:
        if args.keep:
            report["workspace"] = str(ws.root)
        else:
            shutil.rmtree(ws.root, ignore_errors=True)
    print(json.dumps(report, sort_keys=True))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
