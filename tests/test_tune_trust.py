"""The signed record of Tune's pickled state (tune/trust.py), without a cluster: what it accepts and refuses."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from nasplatform.tune.storage import open_storage  # noqa: E402
from nasplatform.tune.trust import UntrustedState, check_stage, record_stage, record_staged  # noqa: E402


@pytest.fixture(autouse=True)
def own_key(tmp_path, monkeypatch):
    monkeypatch.setenv("NASPLATFORM_STATE_KEY", str(tmp_path / "state.key"))


def write(folder, rel, data: bytes):
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_a_stage_recorded_as_written_is_accepted_and_a_planted_file_is_not(tmp_path):
    exp = open_storage(tmp_path / "exp")
    stage = tmp_path / "exp" / "search"
    write(stage, "tuner.pkl", b"tuner")
    write(stage, "t0/params.pkl", b"params")
    record_stage(exp, "search")
    check_stage(exp, "search")
    write(stage, "t1/params.pkl", b"planted")
    with pytest.raises(UntrustedState, match="t1/params.pkl.*not in the record"):
        check_stage(exp, "search")


def test_object_storage_accepts_an_upload_behind_the_staging_folder_but_no_other_content(tmp_path):
    """The bucket may hold an earlier version than the driver's staging folder (Tune uploads in the background):
    every version this driver staged counts, a version it never staged does not."""
    exp = open_storage(tmp_path / "exp")
    staging = tmp_path / "staging"
    bucket_stage = tmp_path / "exp" / "retrain"
    write(staging, "experiment_state-1.json", b"v1")
    write(staging, "t0/params.pkl", b"params")
    record_staged(exp, "retrain", staging)
    write(staging, "experiment_state-1.json", b"v2")
    record_staged(exp, "retrain", staging)
    write(bucket_stage, "t0/params.pkl", b"params")
    for uploaded in (b"v1", b"v2"):  # the bucket one upload behind, then caught up
        write(bucket_stage, "experiment_state-1.json", uploaded)
        check_stage(exp, "retrain")
    write(bucket_stage, "experiment_state-1.json", b"v3, never staged")
    with pytest.raises(UntrustedState, match="changed since it was recorded"):
        check_stage(exp, "retrain")


def test_a_record_under_another_key_is_refused(tmp_path, monkeypatch):
    exp = open_storage(tmp_path / "exp")
    write(tmp_path / "exp" / "search", "tuner.pkl", b"tuner")
    record_stage(exp, "search")
    monkeypatch.setenv("NASPLATFORM_STATE_KEY", str(tmp_path / "other.key"))
    with pytest.raises(UntrustedState, match="no record signed with this user's key"):
        check_stage(exp, "search")
