"""Experiment specs (YAML): datasets, stages and their settings, validated on load with errors naming the dotted key."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasplatform.engine.config import (
    ConfigError,
    DiscriminatorKind,
    RetrainConfig,
    Scheme,
    SearchConfig,
    apply_overrides,
    flatten,
    from_dict,
    load_size_for,
    read_yaml,
    set_dotted,
    to_dict,
    yaml_number,
)

#: Architecture labels: C<H>, N<H>, C'<H> (size-matched, docs/design.md §5.5) and cyclegan@<H>, searched@<H> (fixed H).
LABEL_PATTERN = re.compile(r"^(?:(C'|C|N)(\d+)|(cyclegan|searched)@(\d+))$")
#: Names that become folder names (experiments, datasets).
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: What `--smoke` shrinks every spec to: the smallest run that still passes through every stage.
SMOKE_IMAGE_SIZE = 32
SMOKE_MAX_IMAGES = 8
SMOKE_NDF = 8
SMOKE_SEARCH_HIDDEN_DIM = 4
SMOKE_N_CELLS = 3

#: Engine keys a stage's `settings` may not set, because the grid or the experiment sets them per trial (value: the
#: spec key that does). Everything else about a trial (epochs, H and N of the search, lr, batch, ...) is a setting.
SEARCH_AXES = {
    "scheme": "search.schemes",
    "seed": "search.seeds",
    "data.root": "data_root and datasets",
    "data.crop_size": "image_size",
}
RETRAIN_AXES = {
    "genotypes": "retrain.architectures",
    "hidden_dim": "retrain.architectures",
    "hidden_dim_a": "retrain.architectures",
    "hidden_dim_b": "retrain.architectures",
    "discriminator": "retrain.discriminator",
    "seed": "retrain.repeats",
    "data.root": "data_root and datasets",
    "data.crop_size": "image_size",
}


@dataclass(frozen=True)
class ArchitectureLabel:
    """One retrained architecture of a spec.

    family "C": the cyclegan genotype at H for both generators (C64 = official CycleGAN). "N": the searched
    genotype with one H for both generators, chosen so size(G_A)+size(G_B) is closest to that of C<H>.
    "C'": the cyclegan genotype with one H per generator, each matched to the N<H> generator of its direction.
    "cyclegan" / "searched": that genotype at exactly H (the Fig. 4 sweep). hidden_dim is the H of the label.
    """

    family: str
    hidden_dim: int

    @classmethod
    def parse(cls, text: Any, key: str = "") -> ArchitectureLabel:
        match = LABEL_PATTERN.match(text) if isinstance(text, str) else None
        if not match or int(match.group(2) or match.group(4)) < 1:
            raise ConfigError(
                key,
                f"not an architecture label: {text!r} "
                "(expected C<H>, N<H>, C'<H>, cyclegan@<H> or searched@<H> with H >= 1, e.g. C32, C'64)",
            )
        if match.group(1):
            return cls(match.group(1), int(match.group(2)))
        return cls(match.group(3), int(match.group(4)))

    @property
    def text(self) -> str:
        return (
            f"{self.family}@{self.hidden_dim}"
            if self.family in ("cyclegan", "searched")
            else f"{self.family}{self.hidden_dim}"
        )

    @property
    def needs_search(self) -> bool:
        return self.family in ("N", "C'", "searched")

    @property
    def result_label(self) -> str:
        """The `architecture` column of the results table: `cyclegan`/`searched` for fixed-H labels."""
        return self.family if self.family in ("cyclegan", "searched") else self.text


def _check(condition: bool, key: str, reason: str) -> None:
    if not condition:
        raise ConfigError(key, reason)


@dataclass(frozen=True)
class Resources:
    """Ray resources of one trial: CPUs and GPUs (fractional GPUs share one device). None = inherit."""

    cpus: float | None = None
    gpus: float | None = None

    def __post_init__(self) -> None:
        _check(self.cpus is None or self.cpus > 0, "cpus", f"must be > 0, got {self.cpus}")
        _check(self.gpus is None or self.gpus >= 0, "gpus", f"must be >= 0, got {self.gpus}")

    def over(self, base: Resources) -> Resources:
        """These resources, with keys left out taken from `base` (and 1 CPU, 0 GPUs when both leave them out)."""

        def pick(mine, theirs, default):
            return mine if mine is not None else theirs if theirs is not None else default

        return Resources(pick(self.cpus, base.cpus, 1.0), pick(self.gpus, base.gpus, 0.0))


def flatten_settings(settings: Any, key: str) -> dict[str, Any]:
    """A stage's `settings` as {dotted engine key: value}; nested mappings are flattened."""
    if settings is None:
        return {}
    _check(
        isinstance(settings, Mapping), key, "expected a mapping of engine config keys to values, e.g. {optim.lr: 1e-4}"
    )
    flat = flatten(settings)
    for name in flat:
        _check(all(name.split(".")), key, f"keys must be non-empty strings, got {name!r}")
    return {name: yaml_number(value) for name, value in flat.items()}


@dataclass(frozen=True)
class SearchStage:
    """The search stage: one trial per dataset x scheme x seed (none when `schemes` is empty).

    settings: the SearchConfig of every search trial, partial and dotted (`epochs`, `hidden_dim` = H and `n_cells`
    = N of the supernets, `optim.lr`, ...); the grid sets scheme, seed and data (SEARCH_AXES).
    fail_at_epoch: test aid, every trial raises once right after that epoch's checkpoint.
    """

    schemes: tuple[Scheme, ...] = ()
    seeds: tuple[int, ...] = (0,)
    resources: Resources = field(default_factory=Resources)
    settings: Any = None
    fail_at_epoch: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", flatten_settings(self.settings, "settings"))
        _check(len(set(self.schemes)) == len(self.schemes), "schemes", f"lists a scheme twice: {list(self.schemes)}")
        _check(
            len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds) and min(self.seeds) >= 0,
            "seeds",
            f"must be distinct integers >= 0, at least one, got {list(self.seeds)}",
        )
        _check(self.fail_at_epoch is None or self.fail_at_epoch >= 1, "fail_at_epoch", "must be >= 1 or null")
        _check_not_axes(self.settings, SEARCH_AXES)


def _check_not_axes(settings: dict, axes: dict[str, str]) -> None:
    for key in settings:
        _check(key not in axes, f"settings.{key}", f"is set by the spec key {axes.get(key)}; remove it here")


def setting(settings: dict, cls: type, key: str) -> Any:
    """The value a stage's `settings` gives the engine key `key` of `cls`, else that config's default."""
    if key in settings:
        return settings[key]
    return next(f.default for f in dataclasses.fields(cls) if f.name == key)


@dataclass(frozen=True)
class GenotypeSource:
    """Where the retrain stage takes searched genotypes from besides its own search stage (docs/platform.md,
    "Reusing a search"): exactly one of

    experiment: another experiment's finished search trials of this spec's datasets: a bare name is an
      experiment folder in the same --storage, anything else a folder path or an s3:// / gs:// URI;
      `schemes` / `seeds` keep only those search trials (null: all of them).
    files: {dataset: a genotypes.json path/URI or a list of them}, each file one searched genotype set.
    """

    experiment: str | None = None
    schemes: tuple[Scheme, ...] | None = None
    seeds: tuple[int, ...] | None = None
    files: Any = None

    def __post_init__(self) -> None:
        _check(
            (self.experiment is None) != (self.files is None),
            "experiment",
            "give exactly one of experiment (an experiment folder or URI) and files ({dataset: genotypes.json})",
        )
        _check(self.experiment is None or bool(str(self.experiment).strip()), "experiment", "must not be empty")
        for name in ("schemes", "seeds"):
            values = getattr(self, name)
            _check(
                values is None or self.experiment is not None,
                name,
                "selects search trials of an experiment; files are taken as listed",
            )
            _check(
                values is None or (len(values) >= 1 and len(set(values)) == len(values)),
                name,
                f"must list distinct values, at least one (or be left out for all), got {values}",
            )
        if self.files is not None:
            object.__setattr__(self, "files", _genotype_files(self.files))


def _genotype_files(files: Any) -> dict[str, tuple[str, ...]]:
    """`files` as {dataset: (path, ...)}; a single path may stand for a list of one."""
    _check(
        isinstance(files, Mapping) and bool(files),
        "files",
        "expected a mapping {dataset: genotypes.json path or list of paths}",
    )
    out = {}
    for dataset, paths in files.items():
        paths = [paths] if isinstance(paths, str) else paths
        _check(
            isinstance(paths, (list, tuple)) and bool(paths) and all(isinstance(p, str) and p for p in paths),
            f"files.{dataset}",
            f"expected a genotypes.json path or a list of them, got {paths!r}",
        )
        _check(len(set(paths)) == len(paths), f"files.{dataset}", f"lists a file twice: {list(paths)}")
        out[str(dataset)] = tuple(paths)
    return out


@dataclass(frozen=True)
class RetrainStage:
    """The retrain+evaluate stage: one trial per dataset x architecture (x search trial, for searched ones) x repeat.

    Repeat r trains with seed r. settings: the RetrainConfig of every retrain trial, partial and dotted (`n_epochs`
    at constant lr then `n_epochs_decay` of linear decay, `optim.lr`, ...); the grid sets genotypes, H, D, seed and
    data (RETRAIN_AXES).
    discriminator: the D_A/D_B retrained with searched generators (N<H>, searched@H): "patchgan" (the official
    70x70 PatchGAN, the paper's protocol) or "searched" (the search's derived discriminator genotypes); a list
    of both is a sweep axis. CycleGAN-generator labels (C<H>, C'<H>, cyclegan@H) are the baseline and always
    retrain with the official PatchGAN (docs/design.md §5.6).
    genotypes_from: searched genotypes from another experiment or from files, besides the spec's own searches.
    """

    architectures: tuple[str, ...] = ()
    genotypes_from: Any = (
        None  # a GenotypeSource; typed Any so its own errors reach the user (not "expected ... or null")
    )
    discriminator: DiscriminatorKind | tuple[DiscriminatorKind, ...] = ("patchgan",)
    repeats: int = 3
    resources: Resources = field(default_factory=Resources)
    settings: Any = None
    fail_at_epoch: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", flatten_settings(self.settings, "settings"))
        if self.genotypes_from is not None and not isinstance(self.genotypes_from, GenotypeSource):
            object.__setattr__(
                self, "genotypes_from", from_dict(GenotypeSource, self.genotypes_from, prefix="genotypes_from")
            )
        labels = [ArchitectureLabel.parse(a, f"architectures[{i}]").text for i, a in enumerate(self.architectures)]
        _check(len(set(labels)) == len(labels), "architectures", f"lists a label twice: {labels}")
        object.__setattr__(self, "architectures", tuple(labels))
        kinds = (self.discriminator,) if isinstance(self.discriminator, str) else tuple(self.discriminator)
        _check(
            len(kinds) >= 1 and len(set(kinds)) == len(kinds),
            "discriminator",
            f"must be patchgan, searched or a list of distinct ones, got {self.discriminator!r}",
        )
        object.__setattr__(self, "discriminator", kinds)
        _check(self.repeats >= 1, "repeats", f"must be >= 1, got {self.repeats}")
        _check(self.fail_at_epoch is None or self.fail_at_epoch >= 1, "fail_at_epoch", "must be >= 1 or null")
        _check_not_axes(self.settings, RETRAIN_AXES)

    @property
    def labels(self) -> list[ArchitectureLabel]:
        return [ArchitectureLabel.parse(a) for a in self.architectures]


@dataclass(frozen=True)
class EvaluateStage:
    """Scoring after retraining (FID/KID both directions, paired error, size): cache_dir holds the real-image
    statistics (None = the engine's default, ~/.cache/nasplatform or $NASPLATFORM_CACHE)."""

    enabled: bool = True
    cache_dir: str | None = None


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment: datasets under data_root, trained at image_size, through the search and retrain stages.

    `figure` tags the results (fig3..fig6, quickstart) for the analysis. `resources` are per trial and can be
    overridden per stage. max_failures: retries of a failed trial, each from its last checkpoint.
    """

    name: str = ""
    figure: str = ""
    datasets: tuple[str, ...] = ()
    data_root: str = "data"
    image_size: int = 256
    resources: Resources = field(default_factory=Resources)
    search: SearchStage = field(default_factory=SearchStage)
    retrain: RetrainStage = field(default_factory=RetrainStage)
    evaluate: EvaluateStage = field(default_factory=EvaluateStage)
    max_failures: int = 2

    def __post_init__(self) -> None:
        _check(
            bool(SAFE_NAME.match(self.name)),
            "name",
            f"must be a folder-safe name (letters, digits, . _ -), got {self.name!r}",
        )
        _check(
            bool(self.figure),
            "figure",
            "must name the figure the results belong to (fig3, fig4, fig5, fig6, quickstart)",
        )
        _check(len(self.datasets) >= 1, "datasets", "must list at least one dataset")
        for i, name in enumerate(self.datasets):
            _check(bool(SAFE_NAME.match(name)), f"datasets[{i}]", f"not a dataset folder name: {name!r}")
        _check(
            len(set(self.datasets)) == len(self.datasets), "datasets", f"lists a dataset twice: {list(self.datasets)}"
        )
        _check(self.image_size % 8 == 0, "image_size", f"must be a multiple of 8, got {self.image_size}")
        from nasplatform.nets.layout import min_image_size  # network code, loaded only when a spec is checked

        limit = min_image_size()
        _check(
            self.image_size >= limit.size,
            "image_size",
            f"must be at least {limit.size} ({limit.reason}), got {self.image_size}",
        )
        _check(self.max_failures >= 0, "max_failures", f"must be >= 0, got {self.max_failures}")
        _check(
            bool(self.search.schemes) or bool(self.retrain.architectures),
            "retrain.architectures",
            "the spec runs nothing: list search.schemes and/or retrain.architectures",
        )
        needing = [lab.text for lab in self.retrain.labels if lab.needs_search]
        _check(
            not needing or bool(self.search.schemes) or self.retrain.genotypes_from is not None,
            "search.schemes",
            f"architectures {needing} are derived from a search: list at least one scheme, or take the "
            "genotypes of another experiment's searches with retrain.genotypes_from",
        )
        check_genotype_source(self, needing)
        check_settings(self)

    @property
    def search_resources(self) -> Resources:
        return self.search.resources.over(self.resources)

    @property
    def retrain_resources(self) -> Resources:
        return self.retrain.resources.over(self.resources)


def check_genotype_source(spec: ExperimentSpec, needing: list[str]) -> None:
    """retrain.genotypes_from must feed some architecture, name only the spec's datasets, and not select a
    scheme the spec also searches itself (two trials would then share one plan key)."""
    source = spec.retrain.genotypes_from
    if source is None:
        return
    _check(
        bool(needing),
        "retrain.genotypes_from",
        "no architecture uses searched genotypes (N<H>, C'<H> or "
        "searched@<H>); remove genotypes_from or list such an architecture",
    )
    if source.files is not None:
        for dataset in source.files:
            _check(
                dataset in spec.datasets,
                f"retrain.genotypes_from.files.{dataset}",
                f"is not one of the spec's datasets {list(spec.datasets)}",
            )
        if not spec.search.schemes:
            missing = [d for d in spec.datasets if d not in source.files]
            _check(
                not missing,
                "retrain.genotypes_from.files",
                f"lists no genotypes.json for {missing}, and the spec runs no search of its own",
            )
    elif spec.search.schemes:
        _check(
            source.schemes is not None,
            "retrain.genotypes_from.schemes",
            "must be listed when the spec also "
            f"searches itself (search.schemes {list(spec.search.schemes)}), and not overlap them",
        )
        both = sorted(set(source.schemes) & set(spec.search.schemes))
        _check(
            not both,
            "retrain.genotypes_from.schemes",
            f"{both} are also in search.schemes: take each scheme's genotypes from one place",
        )


# ---------------------------------------------------------------- engine configs of the trials


def _engine_config(cls: type, base: dict, settings: dict, where: str):
    """`cls` from the trial's own keys (`base`) and the stage's settings; errors name the spec key (`where`.key)."""
    try:
        for key, value in settings.items():
            set_dotted(base, key, value)
    except ConfigError as exc:
        raise exc.under(where) from None
    return from_dict(cls, base, prefix=where)


def _data_section(spec: ExperimentSpec, dataset_dir: str) -> dict:
    return {"root": dataset_dir, "crop_size": spec.image_size, "load_size": load_size_for(spec.image_size)}


def search_config(spec: ExperimentSpec, dataset_dir: str, scheme: str, seed: int) -> SearchConfig:
    """The SearchConfig of one search trial: the spec's fields, then `search.settings`."""
    s = spec.search
    base = {
        "data": _data_section(spec, dataset_dir),
        "scheme": scheme,
        "seed": seed,
        "device": "cuda" if spec.search_resources.gpus else "cpu",
    }
    return _engine_config(SearchConfig, base, s.settings, "search.settings")


def retrain_config(
    spec: ExperimentSpec,
    dataset_dir: str,
    seed: int,
    hidden_dims: tuple[int, int],
    genotypes: str = "cyclegan",
    discriminator: str = "patchgan",
) -> RetrainConfig:
    """The RetrainConfig of one retrain trial (H_A, H_B = hidden_dims): the spec's fields, then `retrain.settings`."""
    r = spec.retrain
    base = {
        "data": _data_section(spec, dataset_dir),
        "genotypes": genotypes,
        "discriminator": discriminator,
        "seed": seed,
        "hidden_dim_a": hidden_dims[0],
        "hidden_dim_b": hidden_dims[1],
        "device": "cuda" if spec.retrain_resources.gpus else "cpu",
    }
    return _engine_config(RetrainConfig, base, r.settings, "retrain.settings")


def check_settings(spec: ExperimentSpec) -> None:
    """Build one engine config per stage so a bad settings key fails at load time, not in a trial."""
    search_config(spec, "", (spec.search.schemes or ("OF",))[0], spec.search.seeds[0])
    retrain_config(spec, "", 0, (1, 1))


# ---------------------------------------------------------------- loading, overrides, smoke


def spec_from_dict(data: Any, source: str = "", overrides: Iterable[str] = ()) -> ExperimentSpec:
    """An ExperimentSpec from a mapping (a YAML file or a saved spec.json), with `key=value` overrides (below a
    stage's `settings` the rest is an engine key: `retrain.settings.optim.lr=1e-4`); errors name `source` and
    the key."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            "", f"an experiment spec is a mapping of keys (name, figure, datasets, ...), got {data!r}", source
        )
    try:
        return from_dict(ExperimentSpec, apply_overrides(copy.deepcopy(dict(data)), overrides, ExperimentSpec))
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.reason, source or None) from None


def load_spec(path: str | Path, overrides: Iterable[str] = (), smoke: bool = False) -> ExperimentSpec:
    """The spec in the YAML file at `path`, with `--set` overrides applied; under `smoke`, shrunk by smoke_spec
    and the overrides applied once more on top, so a key the user sets wins over smoke's value."""
    spec = spec_from_dict(read_yaml(path, "the experiment spec"), str(path), overrides)
    if not smoke:
        return spec
    return spec_from_dict(spec_to_dict(smoke_spec(spec)), str(path), overrides)


def spec_to_dict(spec: ExperimentSpec) -> dict:
    return to_dict(spec)


def smoke_hidden_dim(hidden_dim: int) -> int:
    """A label's H under --smoke: 16x smaller (C64 -> C4), at least 2."""
    return max(2, hidden_dim // 16)


def _smoke_labels(labels: list[ArchitectureLabel]) -> tuple[str, ...]:
    texts = [dataclasses.replace(lab, hidden_dim=smoke_hidden_dim(lab.hidden_dim)).text for lab in labels]
    return tuple(dict.fromkeys(texts))


def _smoke_schemes(spec: ExperimentSpec) -> tuple[str, ...]:
    """The spec's own schemes, plus those it would reuse from another experiment or files (OF when unnamed)."""
    source = spec.retrain.genotypes_from
    if source is None:
        return spec.search.schemes
    return tuple(dict.fromkeys(spec.search.schemes + (source.schemes or ("OF",))))


def smoke_spec(spec: ExperimentSpec) -> ExperimentSpec:
    """The smallest meaningful run of `spec`: first dataset and seed, every scheme and label (at small H),
    1 epoch, 1 repeat, 32 px, at most 8 images per domain, 1 CPU per trial. GPU requests are kept here;
    the runner drops them when the cluster has none. A spec that reuses genotypes (retrain.genotypes_from)
    runs a 1-epoch search of its own instead, so a dry run needs neither the source nor its files."""
    shrink = {"data.max_images": SMOKE_MAX_IMAGES, "ndf": SMOKE_NDF, "max_iters_per_epoch": SMOKE_MAX_IMAGES}
    drop = {
        "swap_epoch",
        "alpha_lr_decay_epochs",
        "decide_from_epoch",
        "decide_by_epoch",
        "data.load_size",
        "val_every",
    }

    def small(settings, **stage):
        return {**{k: v for k, v in settings.items() if k not in drop}, **shrink, **stage}

    def one_cpu(res):
        return dataclasses.replace(res, cpus=1.0 if res.cpus is not None else None)

    search_h = setting(spec.search.settings, SearchConfig, "hidden_dim")
    search = dataclasses.replace(
        spec.search,
        schemes=_smoke_schemes(spec),
        seeds=spec.search.seeds[:1],
        settings=small(
            spec.search.settings, epochs=1, hidden_dim=min(SMOKE_SEARCH_HIDDEN_DIM, search_h), n_cells=SMOKE_N_CELLS
        ),
        resources=one_cpu(spec.search.resources),
    )
    retrain = dataclasses.replace(
        spec.retrain,
        architectures=_smoke_labels(spec.retrain.labels),
        genotypes_from=None,
        repeats=1,
        settings=small(spec.retrain.settings, n_epochs=1, n_epochs_decay=0),
        resources=one_cpu(spec.retrain.resources),
    )
    return dataclasses.replace(
        spec,
        name=f"{spec.name}-smoke",
        datasets=spec.datasets[:1],
        image_size=SMOKE_IMAGE_SIZE,
        resources=dataclasses.replace(spec.resources, cpus=1.0),
        search=search,
        retrain=retrain,
    )


# ---------------------------------------------------------------- growing an experiment

#: Spec keys (dotted) whose lists may gain items when an experiment is run again: its grid grows by new trials.
GROWABLE_LISTS = (
    "datasets",
    "search.schemes",
    "search.seeds",
    "retrain.architectures",
    "retrain.genotypes_from.schemes",
    "retrain.genotypes_from.seeds",
    "retrain.genotypes_from.files.",
)
#: Spec keys whose number may grow.
GROWABLE_COUNTS = ("retrain.repeats",)


def _grows(key: str, old: Any, new: Any) -> bool:
    """Whether `new` only adds to `old` at a growable key (a missing list, or null selection, means all)."""
    if key in GROWABLE_COUNTS:
        return isinstance(old, int) and isinstance(new, int) and new >= old
    if key in GROWABLE_LISTS or key.startswith(GROWABLE_LISTS[-1]):
        selection = key.startswith("retrain.genotypes_from.s")
        if new is None:  # a null selection is every scheme/seed of the source, which holds the old one
            return selection
        if old is None and selection:
            return False
        if key.startswith(GROWABLE_LISTS[-1]):  # files are numbered by position in the plan keys: append only
            return isinstance(new, (list, tuple)) and list(new[: len(old)]) == list(old)
        return isinstance(new, (list, tuple)) and set(old or ()) <= set(new)
    return False


def growth_conflicts(old: ExperimentSpec, new: ExperimentSpec) -> list[str]:
    """The dotted spec keys in which `new` does more than add trials to `old` ("key: old -> new"); [] when
    running `new` in the folder of `old` keeps every trial of `old` as it is (docs/platform.md, "Growing")."""
    mine, theirs = (
        flatten(json.loads(json.dumps(spec_to_dict(old)))),
        flatten(json.loads(json.dumps(spec_to_dict(new)))),
    )
    conflicts = []
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key), theirs.get(key)
        if a == b or (key not in mine and _grows(key, [], b)) or (key in mine and _grows(key, a, b)):
            continue
        conflicts.append(f"{key}: {json.dumps(a)} -> {json.dumps(b)}")
    return conflicts
