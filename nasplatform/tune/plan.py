"""Stage plans: the trials of the search and retrain stages, size-matching N- and C'-models (docs/design.md §5.5)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nasplatform.engine.config import to_dict
from nasplatform.nets import Generator, count_params
from nasplatform.space import GeneratorGenotype, genotype_from_dict, named_genotype
from nasplatform.tune.spec import ArchitectureLabel, ExperimentSpec, retrain_config, search_config

#: The retrain engine reads a searched genotype from this file in its run directory (written by the trial).
SOURCE_GENOTYPES = "source_genotypes.json"


@dataclass(frozen=True)
class TrialPlan:
    """Everything one Tune trial needs, and the results-table fields known before it runs.

    key: unique in the experiment ("photo2winter/OF/s0", "photo2winter/N16/OF-s0/r1"). architecture: the
    results label (C32, N32, C'64, cyclegan, searched); label: the spec label. hidden_dim_a/b = H of G_A/G_B.
    ref_params_g_a/b: parameters of the cyclegan generator at those H. engine: the SearchConfig/RetrainConfig
    as a dict. genotypes: searched genotypes to retrain ({g_a, g_b, d_a, d_b} dicts), None for cyclegan.
    run_dir_in_trial: the engine run dir lives in the trial folder (local storage) rather than the worker's.
    genotype_source: where the searched genotypes it retrains (or, C'<H>, was size-matched to) came from
    (SearchOutcome.source). trial_key: stable identity across runs and storages (trial_key()). segment: the
    Tune experiment of the stage holding the trial (0: EXP/<stage>, n: EXP/<stage>-<n+1>, added by a rerun
    that grew the grid).
    """

    key: str
    stage: str
    dataset: str
    scheme: str | None
    seed: int
    repeat: int | None
    architecture: str | None
    label: str | None
    search_key: str | None
    search_trial_id: str | None
    hidden_dim_a: int
    hidden_dim_b: int
    ref_params_g_a: int | None
    ref_params_g_b: int | None
    image_size: int
    epochs_planned: int
    engine: dict
    genotypes: dict | None
    evaluate: dict
    cpus: float
    gpus: float
    fail_at_epoch: int | None
    run_dir_in_trial: bool
    genotype_source: dict | None = None
    trial_key: str = ""
    segment: int = 0

    @property
    def dirname(self) -> str:
        """A folder-safe form of the key (trial folders are named after it)."""
        return self.key.replace("/", "_").replace("'", "p").replace("@", "at")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrialPlan:
        return cls(**data)


@dataclass(frozen=True)
class SearchOutcome:
    """Searched genotypes the retrain plan can use: one finished search trial (of this experiment or another)
    or one genotypes.json file. source: the `genotype_source` of the trials using them (experiment, search
    key, trial id, genotypes_sha256; or file, file_sha256 and genotypes_sha256). tag: the part of the retrain plan keys
    naming these genotypes ("OF-s0" for a search, "file0" for the first file of a dataset)."""

    key: str | None
    trial_id: str | None
    dataset: str
    scheme: str | None
    seed: int | None
    genotypes: dict
    source: dict = field(default_factory=dict)
    tag: str = ""

    @property
    def label(self) -> str:
        return self.tag or f"{self.scheme}-s{self.seed}"


def genotypes_digest(genotypes: dict) -> str:
    """sha256 of the canonical JSON of a genotype set: equal genotypes, equal digest, whatever file held them."""
    return hashlib.sha256(json.dumps(genotypes, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


#: Engine config fields added after experiments were first planned, with their default: digested only when set to
#: something else, so that a trial planned before the field existed keeps its key and a grown experiment does not
#: run it again. Add a field here when you add it to SearchConfig/RetrainConfig (tests/test_tune_spec.py pins keys).
ADDED_AT_DEFAULT: dict[str, object] = {"alpha_lr_decay_epochs": 0, "decide_from_epoch": 0, "decide_by_epoch": 0}


def trial_key(experiment: str, plan: TrialPlan) -> str:
    """`<experiment>/<plan key>#<12 hex>`: the hex digests what the trial computes (stage, dataset, engine
    config, genotypes and their source, evaluation), leaving out where it runs (data root, storage, resources,
    Ray's trial ids). The same spec run twice, or one experiment read from a local copy and from object storage,
    gives the same keys; docs/platform.md, "Several experiments in one table"."""
    engine = json.loads(json.dumps(plan.engine))
    engine.get("data", {}).pop("root", None)
    # digested in the spelling of before the rename (RENAMED_KEYS), so that experiments planned then keep their keys
    if "hidden_dim_a" in engine:
        engine["hidden_dim"] = engine.pop("hidden_dim_a")
    for name, default in ADDED_AT_DEFAULT.items():  # likewise for fields added since, while they keep their default
        if name in engine and engine[name] == default:
            del engine[name]
    source = {
        k: v for k, v in (plan.genotype_source or {}).items() if k in ("experiment", "search_key", "genotypes_sha256")
    }
    content = {
        "experiment": experiment,
        "key": plan.key,
        "stage": plan.stage,
        "dataset": plan.dataset,
        "engine": engine,
        "genotypes": plan.genotypes,
        "hidden_dims": [plan.hidden_dim_a, plan.hidden_dim_b],
        "evaluate": bool(plan.evaluate.get("enabled")),
        "source": source,
    }
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{experiment}/{plan.key}#{digest[:12]}"


def keyed(experiment: str, plan: TrialPlan) -> TrialPlan:
    return dataclasses.replace(plan, trial_key=trial_key(experiment, plan))


# ---------------------------------------------------------------- size matching


@dataclass(frozen=True)
class ParamPolynomial:
    """Parameters of one generator genotype as a function of H: a*H^2 + b*H + c.

    Exact, not a fit: every conv's weights scale with H^2 (channels in x channels out), its bias and nothing
    else with H, and the stem/head add constants (InstanceNorm has no affine parameters).
    """

    a: int
    b: int
    c: int

    def __call__(self, hidden_dim: int) -> int:
        return self.a * hidden_dim * hidden_dim + self.b * hidden_dim + self.c


def real_params(genotype: GeneratorGenotype, hidden_dim: int) -> int:
    """The parameter count of the real network, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return count_params(Generator(genotype, hidden_dim))


@functools.cache
def param_polynomial(genotype: GeneratorGenotype) -> ParamPolynomial:
    """The quadratic through the real counts at H = 1, 2, 3, checked against the real count at H = 7."""
    p1, p2, p3 = (real_params(genotype, h) for h in (1, 2, 3))
    a = (p3 - 2 * p2 + p1) // 2
    b = p2 - p1 - 3 * a
    poly = ParamPolynomial(a, b, p1 - a - b)
    if poly(7) != real_params(genotype, 7):
        raise RuntimeError(f"parameter count of {genotype.to_json()} is not quadratic in H; size matching needs it")
    return poly


def match_hidden_dim(genotypes: list[GeneratorGenotype], target: int) -> int:
    """The H >= 1 at which the summed parameters of `genotypes` are closest to `target` (ties: the smaller H).

    Solves the summed quadratic for H, then compares the real counts of the two integer neighbours.
    """
    polys = [param_polynomial(g) for g in genotypes]
    a, b, c = (sum(getattr(p, k) for p in polys) for k in "abc")
    root = (-b + math.sqrt(max(b * b - 4 * a * (c - target), 0.0))) / (2 * a)
    candidates = sorted({max(1, math.floor(root)), max(1, math.ceil(root))})
    return min(candidates, key=lambda h: (abs(sum(real_params(g, h) for g in genotypes) - target), h))


@dataclass(frozen=True)
class MatchedDims:
    """H of G_A and G_B for one label and one searched genotype pair."""

    hidden_dim_a: int
    hidden_dim_b: int


def label_dims(label: ArchitectureLabel, g_a: GeneratorGenotype | None, g_b: GeneratorGenotype | None) -> MatchedDims:
    """The generators' H for a label: C<H>/cyclegan@H/searched@H use H; N<H> shares one H whose total size
    matches C<H>; C'<H> gives each cyclegan generator the H matching the N<H> generator of its direction."""
    h = label.hidden_dim
    if label.family in ("C", "cyclegan", "searched"):
        return MatchedDims(h, h)
    cyclegan = named_genotype("cyclegan")
    h_n = match_hidden_dim([g_a, g_b], 2 * param_polynomial(cyclegan)(h))
    if label.family == "N":
        return MatchedDims(h_n, h_n)
    return MatchedDims(
        match_hidden_dim([cyclegan], param_polynomial(g_a)(h_n)),
        match_hidden_dim([cyclegan], param_polynomial(g_b)(h_n)),
    )


# ---------------------------------------------------------------- the stages' trials


def _common(spec: ExperimentSpec, stage: str, run_dir_in_trial: bool) -> dict:
    resources = spec.search_resources if stage == "search" else spec.retrain_resources
    stage_spec = spec.search if stage == "search" else spec.retrain
    return {
        "stage": stage,
        "image_size": spec.image_size,
        "evaluate": to_dict(spec.evaluate),
        "cpus": resources.cpus,
        "gpus": resources.gpus,
        "fail_at_epoch": stage_spec.fail_at_epoch,
        "run_dir_in_trial": run_dir_in_trial,
    }


def search_plans(spec: ExperimentSpec, data_root: Path, run_dir_in_trial: bool) -> list[TrialPlan]:
    """One trial per dataset x scheme x seed."""
    plans = []
    for dataset in spec.datasets:
        for scheme in spec.search.schemes:
            for seed in spec.search.seeds:
                cfg = search_config(spec, str(data_root / dataset), scheme, seed)
                h = cfg.hidden_dim
                plans.append(
                    keyed(
                        spec.name,
                        TrialPlan(
                            key=f"{dataset}/{scheme}/s{seed}",
                            dataset=dataset,
                            scheme=scheme,
                            seed=seed,
                            repeat=None,
                            architecture=None,
                            label=None,
                            search_key=None,
                            search_trial_id=None,
                            hidden_dim_a=h,
                            hidden_dim_b=h,
                            ref_params_g_a=None,
                            ref_params_g_b=None,
                            epochs_planned=cfg.epochs,
                            engine=to_dict(cfg),
                            genotypes=None,
                            **_common(spec, "search", run_dir_in_trial),
                        ),
                    )
                )
    return plans


def searched_generators(label: ArchitectureLabel) -> bool:
    """Whether a label retrains the search's generator genotypes (N<H>, searched@H) rather than CycleGAN's."""
    return label.family in ("N", "searched")


def label_discriminators(spec: ExperimentSpec, label: ArchitectureLabel) -> tuple[str, ...]:
    """The retrain discriminators of a label: the spec's `retrain.discriminator` axis for searched generators;
    the official PatchGAN alone for the CycleGAN baselines (docs/design.md §5.6)."""
    return spec.retrain.discriminator if searched_generators(label) else ("patchgan",)


def _retrain_plan(
    spec: ExperimentSpec,
    data_root: Path,
    dataset: str,
    label: ArchitectureLabel,
    repeat: int,
    search: SearchOutcome | None,
    run_dir_in_trial: bool,
    discriminator: str = "patchgan",
) -> TrialPlan:
    g_a = genotype_from_dict(search.genotypes["g_a"]) if search else None
    g_b = genotype_from_dict(search.genotypes["g_b"]) if search else None
    dims = label_dims(label, g_a, g_b)
    cyclegan = param_polynomial(named_genotype("cyclegan"))
    source = SOURCE_GENOTYPES if searched_generators(label) else "cyclegan"
    cfg = retrain_config(
        spec, str(data_root / dataset), repeat, (dims.hidden_dim_a, dims.hidden_dim_b), source, discriminator
    )
    # the official-PatchGAN trials keep the keys they had before the discriminator became a spec key
    arch = label.text if discriminator == "patchgan" else f"{label.text}/D-{discriminator}"
    key = f"{dataset}/{arch}/{search.label}/r{repeat}" if search else f"{dataset}/{arch}/r{repeat}"
    return keyed(
        spec.name,
        TrialPlan(
            key=key,
            dataset=dataset,
            scheme=search.scheme if search and source != "cyclegan" else None,
            seed=repeat,
            repeat=repeat,
            architecture=label.result_label,
            label=label.text,
            search_key=search.key if search else None,
            search_trial_id=search.trial_id if search else None,
            hidden_dim_a=dims.hidden_dim_a,
            hidden_dim_b=dims.hidden_dim_b,
            ref_params_g_a=cyclegan(dims.hidden_dim_a),
            ref_params_g_b=cyclegan(dims.hidden_dim_b),
            epochs_planned=cfg.epochs,
            engine=to_dict(cfg),
            genotypes=search.genotypes if source != "cyclegan" else None,
            genotype_source=search.source if search else None,
            **_common(spec, "retrain", run_dir_in_trial),
        ),
    )


def retrain_plans(
    spec: ExperimentSpec, data_root: Path, searches: list[SearchOutcome], run_dir_in_trial: bool
) -> list[TrialPlan]:
    """Per dataset, label and repeat: one trial for cyclegan-based labels that need no search (C<H>,
    cyclegan@H), one per searched genotype set of that dataset for the others (N<H>, C'<H>, searched@H):
    `searches` holds this experiment's finished searches and those reused (retrain.genotypes_from); labels with
    searched generators once more per retrain discriminator of the spec."""
    plans = []
    for dataset in spec.datasets:
        found = [s for s in searches if s.dataset == dataset]
        for label in spec.retrain.labels:
            sources: list[SearchOutcome | None] = found if label.needs_search else [None]
            for search in sources:
                for discriminator in label_discriminators(spec, label):
                    for repeat in range(spec.retrain.repeats):
                        plans.append(
                            _retrain_plan(
                                spec, data_root, dataset, label, repeat, search, run_dir_in_trial, discriminator
                            )
                        )
    return plans


def plans_to_json(plans: list[TrialPlan]) -> list[dict[str, Any]]:
    return [p.to_dict() for p in plans]


def plans_from_json(data: list[dict[str, Any]]) -> list[TrialPlan]:
    return [TrialPlan.from_dict(d) for d in data]
