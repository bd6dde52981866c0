"""The test suite's own process handling: children waited for while they make progress, their process groups ended
whatever happens, and the session-end search for leftovers (tests/processes.py, tests/conftest.py)."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import suite_processes
from processes import Stalled, run_watched, started


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_child_may_outlast_the_stall_interval_while_it_prints():
    code = "import time\nfor i in range(6):\n    print(i, flush=True); time.sleep(0.5)\n"
    start = time.monotonic()
    done = run_watched([sys.executable, "-c", code], stall_s=2.0)
    assert done.returncode == 0 and done.stdout.split() == ["0", "1", "2", "3", "4", "5"]
    assert time.monotonic() - start > 2.0  # longer than the stall interval, and not stopped


def test_a_silent_child_is_stopped_with_its_grandchildren(tmp_path):
    pid_file = tmp_path / "grandchild"
    code = (
        f"import subprocess, time\np = subprocess.Popen(['sleep', '300'])\nopen({str(pid_file)!r}, 'w')"
        ".write(str(p.pid))\nprint('started', flush=True)\ntime.sleep(300)\n"
    )
    with pytest.raises(Stalled, match=r"(?s)no progress .* for 2 s; stopped; end of its output:\nstarted"):
        run_watched([sys.executable, "-c", code], stall_s=2.0)
    grandchild = int(pid_file.read_text())
    time.sleep(0.2)
    assert not alive(grandchild)


def test_a_failing_test_body_still_ends_the_group(tmp_path):
    with pytest.raises(RuntimeError, match="the test failed"):
        with started(["bash", "-c", "sleep 300 & echo $! > grandchild; wait"], cwd=tmp_path) as child:
            while not (tmp_path / "grandchild").exists():
                time.sleep(0.05)
            raise RuntimeError("the test failed")
    grandchild = int((tmp_path / "grandchild").read_text())
    time.sleep(0.2)
    assert child.poll() is not None and not alive(grandchild)


def test_the_session_check_finds_a_daemon_that_left_the_process_tree(tmp_path):
    # a double fork into a new session, like `ray start`: no longer pytest's descendant, found by the session value
    subprocess.run(["bash", "-c", f"(setsid sleep 300 & echo $! > {tmp_path / 'daemon'})"], check=True)
    daemon = int((tmp_path / "daemon").read_text())
    try:
        assert daemon in suite_processes() and "sleep 300" in suite_processes()[daemon]
        # a process of another session (no value, not a descendant) is not counted
        env = {k: v for k, v in os.environ.items() if k != "NASPLATFORM_TEST_SESSION"}
        subprocess.run(["bash", "-c", f"(setsid sleep 301 & echo $! > {tmp_path / 'other'})"], check=True, env=env)
        other = int((tmp_path / "other").read_text())
        assert other not in suite_processes()
    finally:
        for pid_file in ("daemon", "other"):
            if (tmp_path / pid_file).exists():
                os.kill(int((tmp_path / pid_file).read_text()), signal.SIGKILL)
