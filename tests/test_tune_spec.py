"""Experiment specs, --smoke shrinking, size matching and stage plans (no Ray needed)."""

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest

from nasplatform.engine.config import ConfigError
from nasplatform.engine.strategies import STRATEGIES
from nasplatform.space import GeneratorGenotype, named_genotype
from nasplatform.tune.plan import (
    SearchOutcome,
    label_dims,
    match_hidden_dim,
    param_polynomial,
    real_params,
    retrain_plans,
    search_plans,
    trial_key,
)
from nasplatform.tune.sources import SourceError, resolve_source, reused_searches
from nasplatform.tune.spec import (
    ArchitectureLabel,
    growth_conflicts,
    load_spec,
    retrain_config,
    search_config,
    smoke_spec,
    spec_from_dict,
    spec_to_dict,
)
from nasplatform.tune.storage import open_storage

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
PAPER = {"fig3_schemes": 3, "fig4_hidden_dims": 3, "fig5_size_matched": 3, "fig6_asymmetry": 5}

#: A searched-looking pair: heavy 7x7 convs in G_A, light ops in G_B (asymmetric), 5 cells each.
G_A = GeneratorGenotype(("conv7x7", "conv5x5"), (("conv7x7", "dil_conv5x5"),) * 3, ("bilinear", "nearest"))
G_B = GeneratorGenotype(("max_pool", "conv3x3"), (("conv3x3", "dil_conv3x3"),) * 3, ("trans_conv3x3", "nearest"))


def minimal(**changes) -> dict:
    data = {
        "name": "t",
        "figure": "quickstart",
        "datasets": ["tiny"],
        "image_size": 32,
        "search": {"schemes": ["OF"], "settings": {"epochs": 2, "hidden_dim": 4, "n_cells": 3}},
        "retrain": {"architectures": ["C4", "N4"], "repeats": 2, "settings": {"n_epochs": 1, "n_epochs_decay": 1}},
    }
    for key, value in changes.items():
        section, _, leaf = key.partition("__")
        if leaf == "settings":  # settings given here are added to the stage's own
            data[section] = {**data[section], "settings": {**data[section]["settings"], **value}}
        elif leaf:
            data[section] = {**data[section], leaf: value}
        else:
            data[section] = value
    return data


@pytest.mark.parametrize("name", sorted(PAPER))
def test_paper_specs_carry_the_paper_settings(name):
    spec = load_spec(EXPERIMENTS / f"{name}.yaml")
    assert spec.figure == name.split("_")[0]
    search, retrain = search_config(spec, "", "OF", 0), retrain_config(spec, "", 0, (64, 64))
    assert spec.image_size == 256 and search.epochs == 400 and (search.hidden_dim, search.n_cells) == (16, 11)
    assert (retrain.n_epochs, retrain.n_epochs_decay) == (100, 100)
    assert spec.retrain.repeats == PAPER[name]
    assert spec.retrain_resources.gpus > 0 and spec.search_resources.gpus > 0


def test_paper_grids_match_design_section_6():
    fig3 = load_spec(EXPERIMENTS / "fig3_schemes.yaml")
    assert set(fig3.search.schemes) | set(fig3.retrain.genotypes_from.schemes) == set(STRATEGIES)
    assert set(fig3.datasets) == {"facades", "horse2zebra", "iphone2dslr_flower"}
    assert set(load_spec(EXPERIMENTS / "fig5_size_matched.yaml").retrain.architectures) == {"C32", "C64", "N32", "N64"}
    fig6 = load_spec(EXPERIMENTS / "fig6_asymmetry.yaml")
    assert set(fig6.retrain.architectures) == {"C64", "C'64", "N64"}
    assert set(fig6.datasets) == {"horse2zebra", "iphone2dslr_flower"}
    fig4 = load_spec(EXPERIMENTS / "fig4_hidden_dims.yaml")
    families = {ArchitectureLabel.parse(a).family for a in fig4.retrain.architectures}
    assert families == {"cyclegan", "searched"} and len(fig4.datasets) == 6


def test_quickstart_is_small_decides_and_runs_c_and_n_with_two_seeds():
    spec = load_spec(EXPERIMENTS / "quickstart.yaml")
    assert spec.datasets == ("photo2winter",) and spec.image_size <= 64 and spec.search.schemes == ("OF",)
    assert {lab.family for lab in spec.retrain.labels} == {"C", "N"} and spec.retrain.repeats >= 2
    assert spec.evaluate.enabled and spec.resources.gpus == 0
    search, retrain = spec.search.settings, spec.retrain.settings
    assert search["data.max_images"] <= 100 and retrain["data.max_images"] <= 100
    # every mixed op is decided before the last quarter of the search, so its genotype is stable there (issue 12)
    assert 1 <= search["decide_from_epoch"] <= search["decide_by_epoch"] <= 0.75 * search["epochs"]


@pytest.mark.parametrize(
    "changes, key",
    [
        ({"search__schemes": ["XF"]}, "search.schemes[0]"),
        ({"retrain__architectures": ["C4", "D32"]}, "retrain.architectures[1]"),
        ({"search__settings": {"optim.lrr": 1.0}}, "search.settings.optim.lrr"),
        ({"retrain__settings": {"optim": {"lr": "fast"}}}, "retrain.settings.optim.lr"),
        ({"search__settings": {"scheme": "TF"}}, "search.settings.scheme"),
        ({"resources": {"cpus": 0}}, "resources.cpus"),
        ({"search__schemes": []}, "search.schemes"),
        ({"image_size": 30}, "image_size"),
        ({"datasetz": ["x"]}, "datasetz"),
        ({"retrain__architectures": ["C4", "C4"]}, "retrain.architectures"),
        ({"retrain__genotypes_from": {"experiment": "src"}}, "retrain.genotypes_from.schemes"),
        ({"retrain__genotypes_from": {"experiment": "src", "schemes": ["OF"]}}, "retrain.genotypes_from.schemes"),
        (
            {"retrain__genotypes_from": {"experiment": "src", "files": {"tiny": "g.json"}}},
            "retrain.genotypes_from.experiment",
        ),
        ({"retrain__genotypes_from": {"files": {"other": "g.json"}}}, "retrain.genotypes_from.files.other"),
        ({"retrain__genotypes_from": {"files": {"tiny": ["g.json", "g.json"]}}}, "retrain.genotypes_from.files.tiny"),
        ({"retrain__genotypes_from": {"files": {"tiny": "g.json"}, "seeds": [0]}}, "retrain.genotypes_from.seeds"),
        (
            {"search": {}, "retrain__genotypes_from": {"experiment": "src"}, "retrain__architectures": ["C4"]},
            "retrain.genotypes_from",
        ),
        (
            {"search": {}, "retrain__genotypes_from": {"files": {"tiny": "g.json"}}, "datasets": ["tiny", "b"]},
            "retrain.genotypes_from.files",
        ),
    ],
)
def test_bad_specs_name_the_dotted_key(changes, key):
    with pytest.raises(ConfigError) as info:
        spec_from_dict(minimal(**changes), "spec.yaml")
    assert info.value.key == key and str(info.value).startswith("spec.yaml: ")


def test_spec_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: t\nfigure: f\ndatasets: [x]\nretrain: {architectures: [C4], repeats: 0}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: retrain\.repeats: must be >= 1"):
        load_spec(path)


def test_overrides_reach_stage_settings_and_plain_keys():
    spec = spec_from_dict(
        minimal(), "", ["retrain.settings.optim.lr=1e-4", "search.settings.epochs=3", "datasets=[a, b]"]
    )
    assert spec.retrain.settings == {"n_epochs": 1, "n_epochs_decay": 1, "optim.lr": 1e-4}
    assert spec.search.settings["epochs"] == 3 and spec.datasets == ("a", "b")
    with pytest.raises(ConfigError, match="search.epoch"):
        spec_from_dict(minimal(), "", ["search.epoch=3"])


OLD_SHAPE = {
    "name": "t",
    "figure": "quickstart",
    "datasets": ["tiny"],
    "image_size": 32,
    "search": {"schemes": ["OF"], "epochs": 2, "hidden_dim": 4, "n_cells": 3},
    "retrain": {"architectures": ["C4", "N4"], "repeats": 2, "n_epochs": 1, "n_epochs_decay": 1},
}


def test_a_spec_of_the_old_shape_reads_as_the_same_spec():
    """Specs and experiment.json files written before held five engine keys as stage keys: the migration moves
    them into `settings`, in files and in --set alike, so an old experiment compares equal and may still grow."""
    old = spec_from_dict(OLD_SHAPE, "old.yaml")
    assert old == spec_from_dict(minimal()) and growth_conflicts(old, spec_from_dict(minimal())) == []
    assert spec_to_dict(old)["search"]["settings"] == {"epochs": 2, "hidden_dim": 4, "n_cells": 3}
    assert "epochs" not in spec_to_dict(old)["search"]
    # --set in the old spelling lands on the same key, whichever spelling the file has
    for data in (OLD_SHAPE, minimal()):
        spec = spec_from_dict(data, "", ["search.epochs=5", "retrain.n_epochs_decay=0"])
        assert spec.search.settings["epochs"] == 5 and spec.retrain.settings["n_epochs_decay"] == 0
    assert OLD_SHAPE["search"]["epochs"] == 2  # the caller's mapping is left as it was
    both = {**OLD_SHAPE, "search": {**OLD_SHAPE["search"], "settings": {"epochs": 3}}}
    with pytest.raises(ConfigError, match=r"old\.yaml: search\.epochs: was renamed 'settings\.epochs', which is also"):
        spec_from_dict(both, "old.yaml")


def test_the_grid_axes_are_not_settings():
    for stage, key, owner in [
        ("search", "scheme", "search.schemes"),
        ("search", "seed", "search.seeds"),
        ("search", "data.crop_size", "image_size"),
        ("retrain", "hidden_dim_b", "retrain.architectures"),
        ("retrain", "seed", "retrain.repeats"),
        ("retrain", "genotypes", "retrain.architectures"),
    ]:
        with pytest.raises(ConfigError, match=f"{stage}.settings.{key}: is set by the spec key {owner}"):
            spec_from_dict(minimal(**{f"{stage}__settings": {key: 1}}))


def test_smoke_shrinks_every_dimension():
    spec = load_spec(EXPERIMENTS / "fig4_hidden_dims.yaml")
    small = smoke_spec(spec)
    assert small.name == f"{spec.name}-smoke" and small.image_size == 32 and small.datasets == spec.datasets[:1]
    search, retrain = small.search.settings, small.retrain.settings
    assert (search["epochs"], search["hidden_dim"], search["n_cells"], len(small.search.seeds)) == (1, 4, 3, 1)
    assert (retrain["n_epochs"], retrain["n_epochs_decay"], small.retrain.repeats) == (1, 0, 1)
    assert small.retrain.settings["data.max_images"] == 8 and small.search.settings["data.max_images"] == 8
    assert max(lab.hidden_dim for lab in small.retrain.labels) <= 8
    assert {lab.family for lab in small.retrain.labels} == {lab.family for lab in spec.retrain.labels}
    # fig4 reuses search_paper's OF searches; a dry run searches for itself instead
    assert spec.search.schemes == () and small.search.schemes == ("OF",) and small.retrain.genotypes_from is None


def test_overrides_win_over_smoke():
    path = EXPERIMENTS / "fig4_hidden_dims.yaml"
    base = smoke_spec(load_spec(path))
    assert load_spec(path, smoke=True) == base and base.search.settings["epochs"] == 1
    small = load_spec(path, ["search.settings.epochs=2", "retrain.settings.data.max_images=16"], smoke=True)
    assert small.search.settings["epochs"] == 2 and small.retrain.settings["data.max_images"] == 16
    # every key the user did not set keeps smoke's value
    retrain = dataclasses.replace(base.retrain, settings={**base.retrain.settings, "data.max_images": 16})
    search = dataclasses.replace(base.search, settings={**base.search.settings, "epochs": 2})
    assert small == dataclasses.replace(base, search=search, retrain=retrain)


def test_bad_override_under_smoke_names_the_key_and_file():
    with pytest.raises(ConfigError) as info:
        load_spec(EXPERIMENTS / "quickstart.yaml", ["search.epoch=2"], smoke=True)
    assert info.value.key == "search.epoch" and str(info.value).startswith(f"{EXPERIMENTS / 'quickstart.yaml'}: ")
    with pytest.raises(ConfigError, match=r"quickstart\.yaml: search\.settings\.epochs: must be >= 1"):
        load_spec(EXPERIMENTS / "quickstart.yaml", ["search.settings.epochs=0"], smoke=True)


def test_parameter_polynomial_is_exact():
    cyclegan = param_polynomial(named_genotype("cyclegan"))
    # docs/design.md §7: the official ResNet-9 generator at ngf 16, 32, 64
    assert (cyclegan(16), cyclegan(32), cyclegan(64)) == (715_651, 2_850_563, 11_378_179)
    for h in (5, 13, 24):
        assert param_polynomial(G_A)(h) == real_params(G_A, h)


def test_match_hidden_dim_is_the_best_integer():
    target = 2 * param_polynomial(named_genotype("cyclegan"))(32)
    best = match_hidden_dim([G_A, G_B], target)
    brute = min(range(1, 200), key=lambda h: (abs(param_polynomial(G_A)(h) + param_polynomial(G_B)(h) - target), h))
    assert best == brute


def test_label_dims_size_match_n_and_c_prime():
    cyclegan = named_genotype("cyclegan")
    n = label_dims(ArchitectureLabel.parse("N64"), G_A, G_B)
    assert n.hidden_dim_a == n.hidden_dim_b
    total = real_params(G_A, n.hidden_dim_a) + real_params(G_B, n.hidden_dim_b)
    c64 = 2 * real_params(cyclegan, 64)
    for h in (n.hidden_dim_a - 1, n.hidden_dim_a + 1):  # no neighbour is closer
        assert abs(total - c64) <= abs(real_params(G_A, h) + real_params(G_B, h) - c64)
    c_prime = label_dims(ArchitectureLabel.parse("C'64"), G_A, G_B)
    assert c_prime.hidden_dim_a > c_prime.hidden_dim_b  # G_A is the heavy generator, so its CycleGAN twin is wider
    for h, g in ((c_prime.hidden_dim_a, G_A), (c_prime.hidden_dim_b, G_B)):
        gap = abs(real_params(cyclegan, h) - real_params(g, n.hidden_dim_a))
        assert gap <= min(abs(real_params(cyclegan, k) - real_params(g, n.hidden_dim_a)) for k in (h - 1, h + 1))


def test_plans_one_search_per_scheme_seed_and_retrains_per_label(tmp_path):
    spec = spec_from_dict(minimal(search__seeds=[0, 1], retrain__architectures=["C4", "N4", "C'4"]))
    searches = search_plans(spec, tmp_path, True)
    assert [p.key for p in searches] == ["tiny/OF/s0", "tiny/OF/s1"]
    found = [
        SearchOutcome(p.key, f"id{i}", "tiny", "OF", p.seed, {"g_a": G_A.to_dict(), "g_b": G_B.to_dict()})
        for i, p in enumerate(searches)
    ]
    plans = retrain_plans(spec, tmp_path, found, True)
    # C4: one per repeat; N4 and C'4: one per search and repeat
    assert len(plans) == 2 + 2 * 2 + 2 * 2 and len({p.key for p in plans}) == len(plans)
    c4 = [p for p in plans if p.label == "C4"]
    assert all(p.scheme is None and p.genotypes is None and p.engine["genotypes"] == "cyclegan" for p in c4)
    n4 = [p for p in plans if p.label == "N4"]
    assert {p.search_trial_id for p in n4} == {"id0", "id1"} and all(p.scheme == "OF" for p in n4)
    assert [p.seed for p in c4] == [0, 1] and all(p.engine["data"]["root"] == str(tmp_path / "tiny") for p in plans)


@pytest.mark.parametrize("name", sorted(PAPER) + ["quickstart"])
def test_every_figure_spec_names_its_retrain_discriminator(name):
    # explicit in the file, not only a default of the dataclass: the choice must be visible where a figure is run
    text = (EXPERIMENTS / f"{name}.yaml").read_text()
    assert "\n  discriminator: patchgan\n" in text
    assert load_spec(EXPERIMENTS / f"{name}.yaml").retrain.discriminator == ("patchgan",)


def test_discriminator_list_is_a_sweep_axis_for_searched_generators_only(tmp_path):
    spec = spec_from_dict(
        minimal(retrain__architectures=["C4", "N4", "C'4"], retrain__discriminator=["patchgan", "searched"])
    )
    d = {"d_a": named_genotype("patchgan_point").to_dict(), "d_b": named_genotype("patchgan_point").to_dict()}
    found = [SearchOutcome("tiny/OF/s0", "id0", "tiny", "OF", 0, {"g_a": G_A.to_dict(), "g_b": G_B.to_dict(), **d})]
    plans = retrain_plans(spec, tmp_path, found, True)
    by_label = {}
    for p in plans:
        by_label.setdefault(p.label, []).append(p.engine["discriminator"])
    # N4 once per discriminator and repeat; the CycleGAN baselines (C4, C'4) with the official PatchGAN only
    assert by_label == {"C4": ["patchgan"] * 2, "N4": ["patchgan"] * 2 + ["searched"] * 2, "C'4": ["patchgan"] * 2}
    assert len({p.key for p in plans}) == len(plans)
    # the official-PatchGAN trials keep their former keys, so experiments planned before stay resumable
    assert "tiny/N4/OF-s0/r0" in {p.key for p in plans} and "tiny/N4/D-searched/OF-s0/r0" in {p.key for p in plans}


def test_discriminator_key_accepts_one_name_and_rejects_bad_ones():
    assert spec_from_dict(minimal(retrain__discriminator="searched")).retrain.discriminator == ("searched",)
    with pytest.raises(ConfigError, match=r"retrain\.discriminator"):
        spec_from_dict(minimal(retrain__discriminator="official"))
    with pytest.raises(ConfigError, match=r"retrain\.discriminator: must be"):
        spec_from_dict(minimal(retrain__discriminator=["searched", "searched"]))
    with pytest.raises(
        ConfigError, match=r"retrain\.settings\.discriminator: is set by the spec key retrain\.discriminator"
    ):
        spec_from_dict(minimal(retrain__settings={"discriminator": "searched"}))


# ---------------------------------------------------------------- reused searches, growing, trial keys

SEARCH_PAPER = "search_paper"


def test_paper_figures_retrain_from_one_shared_search():
    shared = load_spec(EXPERIMENTS / f"{SEARCH_PAPER}.yaml")
    assert shared.search.schemes == ("OF",) and shared.search.seeds == (0,) and not shared.retrain.architectures
    search = search_config(shared, "", "OF", 0)
    assert (shared.image_size, search.epochs, search.hidden_dim, search.n_cells) == (256, 400, 16, 11)
    for name in PAPER:
        spec = load_spec(EXPERIMENTS / f"{name}.yaml")
        source = spec.retrain.genotypes_from
        assert source.experiment == SEARCH_PAPER and source.schemes == ("OF",) and source.seeds == (0,), name
        assert set(spec.datasets) <= set(shared.datasets) and spec.image_size == shared.image_size
        assert "OF" not in spec.search.schemes
    fig3 = load_spec(EXPERIMENTS / "fig3_schemes.yaml")  # its own searches run with search_paper's settings
    assert fig3.search.schemes == ("TF", "TH", "THS")
    assert dataclasses.replace(fig3.search, schemes=("OF",)) == shared.search


def test_a_rerun_may_add_trials_but_not_change_them():
    old = spec_from_dict(minimal())
    grown = spec_from_dict(
        minimal(
            datasets=["tiny", "more"],
            search__seeds=[0, 1],
            search__schemes=["OF", "TF"],
            retrain__architectures=["C4", "N4", "C8"],
            retrain__repeats=3,
        )
    )
    assert growth_conflicts(old, grown) == []
    changed = spec_from_dict(
        minimal(
            datasets=["more"], retrain__repeats=1, search__settings={"epochs": 3}, retrain__settings={"optim.lr": 1e-3}
        )
    )
    assert growth_conflicts(old, changed) == [
        'datasets: ["tiny"] -> ["more"]',
        "retrain.repeats: 2 -> 1",
        "retrain.settings.optim.lr: null -> 0.001",
        "search.settings.epochs: 2 -> 3",
    ]
    every_seed = spec_from_dict(
        minimal(search={}, retrain={"architectures": ["N4"], "genotypes_from": {"experiment": "s"}})
    )
    seed_0 = spec_from_dict(
        minimal(search={}, retrain={"architectures": ["N4"], "genotypes_from": {"experiment": "s", "seeds": [0]}})
    )
    assert growth_conflicts(seed_0, every_seed) == []  # null selects every seed: more
    assert growth_conflicts(every_seed, seed_0) == ["retrain.genotypes_from.seeds: null -> [0]"]

    def files(*names):
        return spec_from_dict(
            minimal(search={}, retrain={"architectures": ["N4"], "genotypes_from": {"files": {"tiny": list(names)}}})
        )

    assert growth_conflicts(files("a.json"), files("a.json", "b.json")) == []
    # plan keys number the files (file0, file1): another order would give a trial that ran other genotypes
    assert growth_conflicts(files("a.json", "b.json"), files("b.json", "a.json")) == [
        'retrain.genotypes_from.files.tiny: ["a.json", "b.json"] -> ["b.json", "a.json"]'
    ]


def write_genotypes(path: Path, g_a=G_A, g_b=G_B) -> Path:
    path.write_text(json.dumps({"g_a": g_a.to_dict(), "g_b": g_b.to_dict()}, indent=2))
    return path


def test_genotypes_from_files_are_size_matched_and_recorded(tmp_path):
    first, second = write_genotypes(tmp_path / "a.json"), write_genotypes(tmp_path / "b.json", G_B, G_A)
    spec = spec_from_dict(
        minimal(
            search={},
            retrain={
                "architectures": ["C4", "N4", "C'4"],
                "repeats": 1,
                "genotypes_from": {"files": {"tiny": ["a.json", "b.json"]}},
            },
        )
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)  # relative file paths are read from where `run` is started
    try:
        spec = resolve_source(spec, open_storage(tmp_path / "runs"))
    finally:
        os.chdir(cwd)
    assert spec.retrain.genotypes_from.files == {"tiny": (str(first), str(second))}
    plans = {p.key: p for p in retrain_plans(spec, tmp_path, reused_searches(spec, print), True)}
    assert sorted(plans) == [
        "tiny/C'4/file0/r0",
        "tiny/C'4/file1/r0",
        "tiny/C4/r0",
        "tiny/N4/file0/r0",
        "tiny/N4/file1/r0",
    ]
    for key, (g_a, g_b, path) in {"file0": (G_A, G_B, first), "file1": (G_B, G_A, second)}.items():
        for label in ("N4", "C'4"):
            plan = plans[f"tiny/{label}/{key}/r0"]
            dims = label_dims(ArchitectureLabel.parse(label), g_a, g_b)
            assert (plan.hidden_dim_a, plan.hidden_dim_b) == (dims.hidden_dim_a, dims.hidden_dim_b)
            assert plan.genotype_source["file"] == str(path)
            assert plan.genotype_source["file_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert plans[f"tiny/N4/{key}/r0"].genotypes["g_a"] == g_a.to_dict()
    (tmp_path / "a.json").write_text('{"g_a": {"encoding": ["conv3x3"]}}')
    with pytest.raises(SourceError, match=f"{tmp_path / 'a.json'}: a genotypes.json needs the keys g_a and g_b"):
        reused_searches(spec, print)


def of_search_outcome() -> SearchOutcome:
    """The finished OF search (seed 0, Ray trial ray1) of minimal()'s experiment, with the genotypes G_A, G_B."""
    return SearchOutcome(
        "tiny/OF/s0",
        "ray1",
        "tiny",
        "OF",
        0,
        {"g_a": G_A.to_dict(), "g_b": G_B.to_dict()},
        {"experiment": "t", "search_key": "tiny/OF/s0", "trial_id": "ray1", "genotypes_sha256": "x"},
    )


def test_trial_keys_follow_what_a_trial_computes_not_where_it_runs(tmp_path):
    spec = spec_from_dict(minimal())
    outcome = of_search_outcome()
    here = retrain_plans(spec, tmp_path / "data", [outcome], True)
    # another data root, object storage, another Ray trial id of the same search: the same keys
    moved = dataclasses.replace(outcome, trial_id="ray2", source={**outcome.source, "trial_id": "ray2"})
    there = retrain_plans(spec, Path("/elsewhere"), [moved], False)
    assert [p.trial_key for p in here] == [p.trial_key for p in there]
    assert here[0].trial_key.startswith("t/tiny/C4/r0#") and len({p.trial_key for p in here}) == len(here)
    assert all(trial_key("t", p) == p.trial_key for p in here)
    # other genotypes or other settings: other keys
    other = dataclasses.replace(outcome, genotypes={"g_a": G_B.to_dict(), "g_b": G_A.to_dict()})
    n4 = [p.trial_key for p in retrain_plans(spec, tmp_path, [other], True) if p.label == "N4"]
    assert not set(n4) & {p.trial_key for p in here}
    longer = spec_from_dict(minimal(retrain__settings={"n_epochs": 5}))
    assert not {p.trial_key for p in retrain_plans(longer, tmp_path, [outcome], True)} & {p.trial_key for p in here}
    assert search_plans(spec, tmp_path, True)[0].trial_key == search_plans(spec, Path("/x"), False)[0].trial_key


#: The trial keys of minimal()'s trials as the landed platform computed them (commit 91030a6, before the spec's
#: stage settings and alpha_lr_decay_epochs): experiments planned then must keep them, or growing one reruns all.
PINNED_KEYS = [
    "t/tiny/OF/s0#89e16088d957",
    "t/tiny/C4/r0#22504b865cd8",
    "t/tiny/C4/r1#b8e07205e3e9",
    "t/tiny/N4/OF-s0/r0#1118164f73dc",
    "t/tiny/N4/OF-s0/r1#760cf40c1dd9",
]


@pytest.mark.parametrize("shape", ["now", "old"])
def test_trial_keys_of_experiments_planned_before_stay_the_same(tmp_path, shape):
    spec = spec_from_dict(minimal() if shape == "now" else OLD_SHAPE)
    outcome = of_search_outcome()
    keys = [p.trial_key for p in search_plans(spec, tmp_path, True) + retrain_plans(spec, tmp_path, [outcome], True)]
    assert keys == PINNED_KEYS
    # a field added since (ADDED_AT_DEFAULT) counts once it is set to anything but its default
    decayed = spec_from_dict(minimal(search__settings={"alpha_lr_decay_epochs": 1}))
    assert search_plans(decayed, tmp_path, True)[0].trial_key != PINNED_KEYS[0]


@pytest.mark.parametrize(
    "override, key, reason",
    [
        ("search.epoch=2", "search.epoch", "unknown key; did you mean 'search.settings.epochs'?"),
        ("search.settings.epoch=2", "search.settings.epoch", "unknown key; did you mean 'search.settings.epochs' or"),
        ("lr=1", "lr", "unknown key"),
        ("search.schemes=[OF, XF]", "search.schemes[1]", "must be one of"),
        ("search.epochs=many", "search.settings.epochs", "expected an integer, got 'many' (str)"),
        ("image_size.x=3", "image_size", "is a value, not a section"),
        ("search.settings.seed.x=3", "search.settings.seed", "is a value, not a section"),
        ("search.settings.optim.lrr=3", "search.settings.optim.lrr", "did you mean 'search.settings.optim.lr'?"),
        ("search.epochs", "search.epochs", "an override must look like key=value"),
    ],
)
def test_spec_overrides_are_checked_like_config_overrides_and_name_the_file(override, key, reason):
    with pytest.raises(ConfigError) as info:
        spec_from_dict(minimal(), "spec.yaml", [override])
    assert info.value.key == key and reason in info.value.reason and str(info.value).startswith("spec.yaml: ")


@pytest.mark.parametrize(
    "settings",
    [
        {"optim.lr": 1e-3, "data": {"max_images": 4}},
        {"optim": {"lr": 1e-3}, "data.max_images": 4},
        {"optim": {"beta1": 0.5}, "optim.lr": 1e-3, "data": {}, "data.max_images": 4},
        None,
    ],
)
def test_settings_overrides_win_however_the_yaml_spells_the_key(settings):
    spec = spec_from_dict(
        minimal(search={"schemes": ["OF"], "settings": settings}),
        "",
        ["search.settings.optim.lr=5e-4", "search.settings.data.max_images=2"],
    )
    assert {k: v for k, v in spec.search.settings.items() if k != "optim.beta1"} == {
        "optim.lr": 5e-4,
        "data.max_images": 2,
    }


def test_one_override_parser_one_flattener_one_yaml_reader():
    import re

    package = Path(__file__).resolve().parents[1] / "nasplatform"
    sources = {str(p.relative_to(package)): p.read_text() for p in package.rglob("*.py")}

    def defs(pattern):
        return sorted(name for text in sources.values() for name in re.findall(pattern, text))

    assert defs(r"def (\w*override\w*)") == ["apply_overrides"]
    assert defs(r"def (\w*flatten\w*|\w*dotted\w*)\(") == [
        "flatten",
        "flatten_baselines",
        "flatten_settings",
        "set_dotted",
    ]
    assert [name for name, text in sources.items() if "yaml.safe_load(" in text] == ["engine/config.py"]


def test_trial_keys_of_plans_from_before_the_hidden_dim_a_rename_stay_the_same(tmp_path):
    spec = spec_from_dict(minimal())
    for plan in retrain_plans(spec, tmp_path, [], True):
        old = {("hidden_dim" if k == "hidden_dim_a" else k): v for k, v in plan.engine.items()}
        assert "hidden_dim_a" in plan.engine and trial_key("t", plan) == trial_key(
            "t", dataclasses.replace(plan, engine=old)
        )
