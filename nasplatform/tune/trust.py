"""Tune's pickled state in an experiment folder: signed digests recorded as it is written, checked before a restore.

Ray Tune unpickles files of EXP/<stage>/ when a stage is restored (tuner.pkl; experiment_state-*.json and
basic-variant-state-*.json, which embed or are cloudpickle; callback and searcher states *.pkl) and a trial's
*.pkl when results are read. Unpickling runs whatever code the file names, so a folder someone else could
write to must not reach Tuner.restore unchecked (docs/platform.md, "What is safe to open"). This platform
records the SHA-256 of each such file in EXP/tune_state_digests.json whenever Tune may have written one (a
stage's Tuner created, each step of the Tune loop on local storage, a stage's end), with an HMAC under a key
that only this user can read (~/.config/nasplatform/state.key, or $NASPLATFORM_STATE_KEY), so whoever plants
a pickle cannot write a matching record. Before a restore every such file must match the record.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from ray.tune import Callback

from nasplatform.tune.storage import Storage, StorageError, open_storage

DIGESTS_FILE = "tune_state_digests.json"
KEY_ENV = "NASPLATFORM_STATE_KEY"
#: top-level files of a stage folder with these endings are Tune state that it deserialises with pickle
STATE_SUFFIXES = (".pkl", ".json")
#: versions of one file kept in the record on object storage (uploads lag the local writes by a few)
KEPT_VERSIONS = 8


class UntrustedState(StorageError):
    """Tune state in an experiment folder that this platform did not record writing."""


def key_file() -> Path:
    return Path(os.environ.get(KEY_ENV) or Path.home() / ".config" / "nasplatform" / "state.key")


def _key() -> bytes:
    path = key_file()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip().encode()


def pickled_files(stage: Storage) -> list[str]:
    """Paths (relative to the stage folder) of the files Tune unpickles: top-level state, trials' *.pkl."""
    found = []
    for name, is_dir in stage.list_names():
        if not is_dir and name.endswith(STATE_SUFFIXES):
            found.append(name)
        elif is_dir:
            found += [
                f"{name}/{sub}" for sub, sub_dir in stage.list_names(name) if not sub_dir and sub.endswith(".pkl")
            ]
    return found


def _read_bytes(stage: Storage, relative: str) -> bytes:
    with stage.fs.open_input_stream(stage.path(relative)) as stream:
        return stream.read()


def _sign(stages: dict) -> str:
    return hmac.new(_key(), json.dumps(stages, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def read_record(exp: Storage) -> dict | None:
    """{stage: {path: sha256}} as recorded and signed with this user's key; None if absent or not signed so."""
    if not exp.exists(DIGESTS_FILE):
        return None
    try:
        data = json.loads(exp.read_text(DIGESTS_FILE))
        stages, signature = data["stages"], data["hmac"]
    except (ValueError, KeyError, TypeError):
        return None
    return stages if isinstance(stages, dict) and hmac.compare_digest(str(signature), _sign(stages)) else None


def _digests(folder: Storage) -> dict[str, str]:
    digests = {}
    for rel in pickled_files(folder):
        try:
            digests[rel] = hashlib.sha256(_read_bytes(folder, rel)).hexdigest()
        except FileNotFoundError:
            continue  # a temp file Tune renamed away meanwhile
    return digests


def _write_record(exp: Storage, stages: dict) -> None:
    exp.write_text(json.dumps({"stages": stages, "hmac": _sign(stages)}, indent=1, sort_keys=True) + "\n", DIGESTS_FILE)


def record_stage(exp: Storage, stage: str) -> None:
    """Record the digests of the stage's pickled files as they are now (this process wrote them)."""
    stages = read_record(exp) or {}
    stages[stage] = _digests(exp.child(stage))
    _write_record(exp, stages)


def record_staged(exp: Storage, stage: str, staging: Path) -> None:
    """Object storage: record the stage's pickled files as they are in the driver's staging folder `staging`.

    Ray Tune writes every file it later unpickles (its experiment state, each trial's params.pkl) into that local
    folder first and uploads the folder as it is; so these are the digests the uploaded copies will have, read
    without a request per file. Files only in the bucket (an earlier driver's) keep their recorded digests.
    """
    stages = read_record(exp) or {}
    recorded = dict(stages.get(stage, {}))
    for rel, digest in _digests(open_storage(staging)).items():
        # Tune uploads in the background: until the upload of this version is done the bucket holds an earlier
        # one, also written by this driver, so the last few versions of each file all count as recorded
        earlier = [d for d in _accepted(recorded.get(rel)) if d != digest]
        recorded[rel] = [digest, *earlier][:KEPT_VERSIONS]
    stages[stage] = recorded
    _write_record(exp, stages)


def _accepted(entry) -> list[str]:
    """The digests a record entry accepts: one (local storage, or a stage's end) or a list (object storage)."""
    if entry is None:
        return []
    return [entry] if isinstance(entry, str) else [str(d) for d in entry]


def check_stage(exp: Storage, stage: str) -> None:
    """Refuse (UntrustedState) a stage folder holding a pickled file that is not the one recorded for it."""
    folder = exp.child(stage)
    stages = read_record(exp)
    recorded = (stages or {}).get(stage, {})
    for rel in pickled_files(folder):
        digest = hashlib.sha256(_read_bytes(folder, rel)).hexdigest()
        if digest in _accepted(recorded.get(rel)):
            continue
        why = (
            "there is no record signed with this user's key (another user's or machine's folder, an older "
            "nasplatform, or a tampered record)"
            if stages is None
            else "it is not in the record"
            if rel not in recorded
            else "it changed since it was recorded"
        )
        raise UntrustedState(
            f"{folder.uri}/{rel}: Ray Tune would unpickle this file to continue the stage, which can run any code "
            f"in it, but it is not the file this platform recorded writing: {why}. Nothing was restored. If you "
            f"trust this folder (your own run, killed while Tune saved its state), accept its Tune state as it is "
            f"with `nasplatform resume --trust-tune-state {exp.uri}`; `nasplatform status` and `collect` read the "
            "folder without unpickling anything"
        )


class StateRecorder(Callback):
    """Re-records a stage's digests after each step of the Tune loop in which its pickled files changed (a stat
    per file: of the stage folder itself on local storage, of the driver's staging folder on object storage)."""

    def __init__(self, exp: Storage, stage: str):
        self.exp, self.stage = exp, stage
        self._seen: dict | None = None

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        folder = self.exp.child(self.stage)
        if folder.is_local:
            root = folder.local_path()
        elif trials:  # object storage: what Tune will upload, in the driver's staging folder
            root = Path(trials[0].storage.experiment_driver_staging_path)
        else:
            return
        seen = {}
        for rel in pickled_files(open_storage(root)):
            try:
                stat = (root / rel).stat()
            except FileNotFoundError:
                continue
            seen[rel] = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            if folder.is_local:
                record_stage(self.exp, self.stage)
            else:
                record_staged(self.exp, self.stage, root)
            self._seen = seen
