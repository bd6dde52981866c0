"""Each trial's reported results, read through tune/collect.py from Tune's folders while a stage runs."""

import json

from nasplatform.tune.collect import checkpoint_names, reported_results, reporting_trials, stage_folders
from nasplatform.tune.storage import open_storage


def test_reports_of_running_trials_in_every_segment(tmp_path):
    exp = open_storage(tmp_path / "exp")
    running = tmp_path / "exp" / "retrain" / "t0"
    running.mkdir(parents=True)
    rows = [{"epoch": 1, "node_ip": "127.0.0.3", "pid": 7}, {"epoch": 2, "node_ip": "127.0.0.2", "pid": 9}]
    # the last line is being written: left out, the rows before it kept
    (running / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"epoch": 3, "no')
    for name in ("checkpoint_000001", "checkpoint_000000"):
        (running / name).mkdir()
    grown = tmp_path / "exp" / "retrain-2" / "t1"
    grown.mkdir(parents=True)
    (grown / "result.json").write_text(json.dumps({"epoch": 1}) + "\n")
    (tmp_path / "exp" / "retrain" / "not_started").mkdir()  # no result yet: not reporting
    (tmp_path / "exp" / "retrainx").mkdir()  # another stage's name that merely starts alike

    assert stage_folders(exp, "retrain") == ["retrain", "retrain-2"]
    assert reporting_trials(exp, "retrain") == [("retrain", "t0"), ("retrain-2", "t1")]
    assert reporting_trials(exp, "search") == []
    assert reported_results(exp, "retrain", "t0") == rows
    assert reported_results(exp, "retrain", "not_started") == []
    assert checkpoint_names(exp, "retrain", "t0") == ["checkpoint_000000", "checkpoint_000001"]
