"""The live view's arithmetic (`status --watch`): pace, ETA per trial and per stage, and the trial line."""

import math

import pytest

from nasplatform.tune.collect import TrialRecord
from nasplatform.tune.plan import TrialPlan
from nasplatform.tune.status import remaining_seconds, seconds_per_epoch, stage_eta, trial_line


def record(key: str, tune_status: str, epochs: int = 10, **result) -> TrialRecord:
    plan = TrialPlan(
        key=key,
        stage="search",
        dataset="tiny",
        scheme="OF",
        seed=0,
        repeat=None,
        architecture=None,
        label=None,
        search_key=None,
        search_trial_id=None,
        hidden_dim_a=2,
        hidden_dim_b=2,
        ref_params_g_a=None,
        ref_params_g_b=None,
        image_size=32,
        epochs_planned=epochs,
        engine={},
        genotypes=None,
        evaluate={},
        cpus=1,
        gpus=0,
        fail_at_epoch=None,
        run_dir_in_trial=True,
    )
    return TrialRecord(
        plan, tune_status=tune_status, trial_id="t" if tune_status != "NOT_STARTED" else None, last_result=result
    )


def test_pace_and_remaining_time_of_one_trial():
    running = record("a", "RUNNING", epoch=4, elapsed_s=40.0, loss_g=1.25)
    assert seconds_per_epoch(running) == 10.0
    assert remaining_seconds(running, None) == 60.0  # 6 epochs left at 10 s each
    pending = record("b", "NOT_STARTED")
    assert seconds_per_epoch(pending) is None
    assert remaining_seconds(pending, 10.0) == 100.0 and math.isnan(remaining_seconds(pending, None))
    done = record("c", "TERMINATED", epoch=10, elapsed_s=100.0, trial_status="ok")
    assert remaining_seconds(done, 10.0) == 0.0


def test_stage_eta_shares_the_work_left_between_the_running_trials():
    records = [
        record("a", "RUNNING", epoch=4, elapsed_s=40.0),
        record("b", "RUNNING", epoch=5, elapsed_s=100.0),
        record("c", "NOT_STARTED"),
        record("d", "TERMINATED", epoch=10, elapsed_s=99.0, trial_status="ok"),
    ]
    # a: 6 x 10 s, b: 5 x 20 s, c: 10 epochs at the mean pace of those that reported (10, 20, 9.9 s)
    expected = (60 + 100 + 10 * (10 + 20 + 9.9) / 3) / 2
    assert stage_eta(records) == pytest.approx(expected)
    assert stage_eta([record("c", "NOT_STARTED")]) is None  # nothing to estimate from yet


def test_trial_line_shows_epoch_pace_eta_and_losses():
    line = trial_line(record("tiny/OF/s0", "RUNNING", epoch=4, elapsed_s=40.0), {"loss_g": 1.25, "loss_d_a": 0.5})
    assert "tiny/OF/s0" in line and "running" in line and "epoch   4/10" in line
    assert "0m10s/epoch" in line and "ETA   1m00s" in line and "loss_g=1.250 loss_d_a=0.500" in line
    finished = trial_line(record("x", "TERMINATED", epoch=10, elapsed_s=100.0, trial_status="ok"), {})
    assert "ETA       -" in finished and finished.rstrip().endswith("-")
