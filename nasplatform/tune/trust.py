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
from typing import Optional

from ray.tune import Callback

from nasplatform.tune.storage import Storage, StorageError

DIGESTS_FILE = "tune_state_digests.json"
KEY_ENV = "NASPLATFORM_STATE_KEY"
#: top-level files of a stage folder with these endings are Tune state that it deserialises with pickle
STATE_SUFFIXES = (".pkl", ".json")


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
            found += [f"{name}/{sub}" for sub, sub_dir in stage.list_names(name) if not sub_dir and sub.endswith(".pkl")]
    return found


def _read_bytes(stage: Storage, relative: str) -> bytes:
    with stage.fs.open_input_stream(stage.path(relative)) as stream:
        return stream.read()


def _sign(stages: dict) -> str:
    return hmac.new(_key(), json.dumps(stages, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def read_record(exp: Storage) -> Optional[dict]:
    """{stage: {path: sha256}} as recorded and signed with this user's key; None if absent or not signed so."""
    if not exp.exists(DIGESTS_FILE):
        return None
    try:
        data = json.loads(exp.read_text(DIGESTS_FILE))
        stages, signature = data["stages"], data["hmac"]
    except (ValueError, KeyError, TypeError):
        return None
    return stages if isinstance(stages, dict) and hmac.compare_digest(str(signature), _sign(stages)) else None


def record_stage(exp: Storage, stage: str) -> None:
    """Record the digests of the stage's pickled files as they are now (this process wrote them)."""
    folder = exp.child(stage)
    stages = read_record(exp) or {}
    digests = {}
    for rel in pickled_files(folder):
        try:
            digests[rel] = hashlib.sha256(_read_bytes(folder, rel)).hexdigest()
        except FileNotFoundError:
            continue  # a temp file Tune renamed away meanwhile
    stages[stage] = digests
    exp.write_text(json.dumps({"stages": stages, "hmac": _sign(stages)}, indent=1, sort_keys=True) + "\n",
                   DIGESTS_FILE)


def check_stage(exp: Storage, stage: str) -> None:
    """Refuse (UntrustedState) a stage folder holding a pickled file that is not the one recorded for it."""
    folder = exp.child(stage)
    stages = read_record(exp)
    recorded = (stages or {}).get(stage, {})
    for rel in pickled_files(folder):
        digest = hashlib.sha256(_read_bytes(folder, rel)).hexdigest()
        if recorded.get(rel) == digest:
            continue
        why = ("there is no record signed with this user's key (another user's or machine's folder, an older "
               "nasplatform, or a tampered record)" if stages is None
               else "it is not in the record" if rel not in recorded else "it changed since it was recorded")
        raise UntrustedState(
            f"{folder.uri}/{rel}: Ray Tune would unpickle this file to continue the stage, which can run any code "
            f"in it, but it is not the file this platform recorded writing: {why}. Nothing was restored. If you "
            f"trust this folder (your own run, killed while Tune saved its state), accept its Tune state as it is "
            f"with `nasplatform resume --trust-tune-state {exp.uri}`; `nasplatform status` and `collect` read the "
            "folder without unpickling anything")


class StateRecorder(Callback):
    """Re-records a stage's digests after each step of the Tune loop in which its pickled files changed
    (local storage: a stat per file; object storage is recorded when the stage starts and ends only)."""

    def __init__(self, exp: Storage, stage: str):
        self.exp, self.stage = exp, stage
        self._seen: Optional[dict] = None

    def on_step_end(self, iteration: int, trials: list, **info) -> None:
        folder = self.exp.child(self.stage)
        if not folder.is_local:
            return
        root = folder.local_path()
        seen = {}
        for rel in pickled_files(folder):
            try:
                stat = (root / rel).stat()
            except FileNotFoundError:
                continue
            seen[rel] = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            record_stage(self.exp, self.stage)
            self._seen = seen
