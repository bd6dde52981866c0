"""Torch threads: --threads and the `threads` config key, the default from idle allowed CPUs, resume with another."""

import subprocess
import sys

import pytest
import torch
import yaml

from nasplatform.cli import main
from nasplatform.engine.threads import FREE_FRACTION, allowed_cpus, choose_threads, default_threads, idle_fractions

TINY = [
    "--set",
    "n_cells=3",
    "--set",
    "hidden_dim=2",
    "--set",
    "ndf=4",
    "--set",
    "max_iters_per_epoch=1",
    "--image-size",
    "32",
    "--no-progress",
]


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_choose_threads_takes_a_request_or_the_default():
    assert choose_threads(3) == 3
    with pytest.raises(ValueError, match="at least 1"):
        choose_threads(0)
    assert 1 <= default_threads() <= len(allowed_cpus())


def test_a_busy_cpu_is_not_counted_free():
    cpu = allowed_cpus()[0]
    code = (
        f"import os, time\nos.sched_setaffinity(0, {{{cpu}}})\nend = time.time() + 30\nwhile time.time() < end: pass\n"
    )
    burner = subprocess.Popen([sys.executable, "-c", code])
    try:
        # the burner, or whatever else runs there when it does not get the CPU, keeps it busy
        assert idle_fractions([cpu], sample_s=1.0)[cpu] < FREE_FRACTION
    finally:
        burner.kill()
        burner.wait()


@pytest.mark.e2e  # a search or retrain run end to end (> 5 s)
def test_search_takes_threads_and_resume_may_change_them(tiny_data, tmp_path, restore_threads):
    run_dir = tmp_path / "run"
    assert (
        main(["search", "--data", str(tiny_data), "--epochs", "1", "--threads", "2", "--out", str(run_dir), *TINY]) == 0
    )
    assert torch.get_num_threads() == 2
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["threads"] == 2
    # a finished run "resumed" with other threads is not refused as a different config
    assert main(["search", "--resume", str(run_dir), "--threads", "1", "--no-progress"]) == 0
    assert torch.get_num_threads() == 1


def test_bad_threads_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["translate", "run", "--direction", "AtoB", "in", "out", "--threads", "0"])
    assert "--threads: must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_cli_sets_passive_openmp_waiting_before_torch_loads(given, expected):
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_WAIT_POLICY"}
    if given:
        env["OMP_WAIT_POLICY"] = given
    code = (
        "import os, sys; import nasplatform.cli; assert 'torch' not in sys.modules, 'torch loaded first'; "
        "print(os.environ['OMP_WAIT_POLICY'])"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
