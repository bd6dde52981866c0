"""Searched genotypes for the retrain stage: this experiment's finished searches, another experiment's, or
genotypes.json files (the spec's retrain.genotypes_from); no Ray needed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable

from nasplatform.space import NETWORK_NAMES, GenotypeError, genotypes_from_json
from nasplatform.tune.collect import TrialRecord, read_stage
from nasplatform.tune.experiment import read_record
from nasplatform.tune.plan import SearchOutcome, genotypes_digest
from nasplatform.tune.spec import SAFE_NAME, ExperimentSpec
from nasplatform.tune.storage import Storage, StorageError, open_storage

Log = Callable[[str], None]


class SourceError(StorageError):
    """retrain.genotypes_from names something that cannot give the genotypes asked for; the message says why."""


def search_outcome(record: TrialRecord, experiment: str, uri: str) -> SearchOutcome:
    """A finished search's genotypes, as reported in its last result, with where they came from."""
    genotypes = {n: json.loads(record.last_result[f"genotype_{n}"]) for n in NETWORK_NAMES}
    plan = record.plan
    source = {
        "experiment": experiment,
        "uri": uri,
        "search_key": plan.key,
        "trial_id": record.trial_id,
        "genotypes_sha256": genotypes_digest(genotypes),
        "search_time_s": record.last_result.get("elapsed_s"),
    }
    return SearchOutcome(plan.key, record.trial_id, plan.dataset, plan.scheme, plan.seed, genotypes, source)


def resolve_source(spec: ExperimentSpec, storage: Storage) -> ExperimentSpec:
    """The spec with retrain.genotypes_from made absolute: a bare experiment name becomes the folder of that
    name in `storage` (where this experiment goes), paths become absolute, URIs stay as they are."""
    source = spec.retrain.genotypes_from
    if source is None:
        return spec
    if source.experiment is not None:
        ref = source.experiment.strip()
        uri = storage.child(ref).uri if SAFE_NAME.match(ref) and "/" not in ref else open_storage(ref).uri
        if uri == storage.child(spec.name).uri:
            raise SourceError(
                f"retrain.genotypes_from.experiment: {ref!r} is this experiment itself; "
                "its own searches are listed in search.schemes"
            )
        source = dataclasses.replace(source, experiment=uri)
    else:
        source = dataclasses.replace(
            source, files={d: tuple(open_storage(p).uri for p in paths) for d, paths in source.files.items()}
        )
    return dataclasses.replace(spec, retrain=dataclasses.replace(spec.retrain, genotypes_from=source))


def reused_searches(spec: ExperimentSpec, log: Log) -> list[SearchOutcome]:
    """The genotypes retrain.genotypes_from gives for the spec's datasets ([] when it is not set)."""
    source = spec.retrain.genotypes_from
    if source is None:
        return []
    if source.files is not None:
        return [
            file_outcome(dataset, i, uri)
            for dataset in spec.datasets
            for i, uri in enumerate(source.files.get(dataset, ()))
        ]
    return experiment_outcomes(spec, open_storage(source.experiment), log)


def _selection(source) -> str:
    parts = [
        f"schemes {list(source.schemes)}" if source.schemes else "",
        f"seeds {list(source.seeds)}" if source.seeds else "",
    ]
    return " and ".join(p for p in parts if p) or "any scheme and seed"


def experiment_outcomes(spec: ExperimentSpec, src: Storage, log: Log) -> list[SearchOutcome]:
    """The finished search trials of the experiment `src` for the spec's datasets and selection. Refused while
    a selected trial has not finished, and when a dataset has none (the retrain grid would be incomplete)."""
    source = spec.retrain.genotypes_from
    name = read_record(src).spec.name
    selected = [
        r
        for r in read_stage(src, "search")
        if r.plan.dataset in spec.datasets
        and (source.schemes is None or r.plan.scheme in source.schemes)
        and (source.seeds is None or r.plan.seed in source.seeds)
    ]
    unfinished = [f"{r.plan.key} ({r.status})" for r in selected if r.status not in ("ok", "diverged")]
    if unfinished:
        raise SourceError(
            f"retrain.genotypes_from: {len(unfinished)} selected search trial(s) of {src.uri} have not "
            f"finished ({', '.join(unfinished[:6])}); finish them first (`nasplatform resume {src.uri}`)"
        )
    for r in selected:
        if r.status == "diverged":
            log(f"search {r.plan.key} of {name} diverged; its genotypes are not retrained")
    found = [search_outcome(r, name, src.uri) for r in selected if r.status == "ok"]
    missing = [d for d in spec.datasets if not any(s.dataset == d for s in found)]
    if missing:
        searched = sorted({r.plan.dataset for r in read_stage(src, "search")})
        raise SourceError(
            f"retrain.genotypes_from: {src.uri} has no finished search of {missing} with "
            f"{_selection(source)} (it searched {searched}); grow it with those datasets first"
        )
    return found


def file_outcome(dataset: str, index: int, uri: str) -> SearchOutcome:
    """One genotypes.json (keys g_a, g_b and optionally d_a, d_b; genotype dicts or names) as a retrain source."""
    try:
        text = open_storage(uri).read_text()
    except StorageError as exc:
        raise SourceError(f"retrain.genotypes_from.files.{dataset}[{index}]: {exc}") from None
    try:
        genotypes = {name: g.to_dict() for name, g in genotypes_from_json(text, uri).items()}
    except GenotypeError as exc:
        raise SourceError(str(exc)) from None
    source = {
        "file": uri,
        "file_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "genotypes_sha256": genotypes_digest(genotypes),
    }
    return SearchOutcome(None, None, dataset, None, None, genotypes, source, tag=f"file{index}")


def own_searches(records: list[TrialRecord], experiment: str, uri: str) -> list[SearchOutcome]:
    return [search_outcome(r, experiment, uri) for r in records if r.status == "ok"]
