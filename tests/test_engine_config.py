"""Typed run configs: unknown keys, type checks, value ranges, dotted overrides and the YAML round trip."""

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from nasplatform.engine.config import (
    DEVICE_PATTERN,
    ConfigError,
    DataConfig,
    LossConfig,
    OptimConfig,
    RetrainConfig,
    SearchConfig,
    apply_overrides,
    from_dict,
    load_yaml,
    save_yaml,
    to_dict,
)


def error_of(cls, data) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        from_dict(cls, data)
    return info.value


def test_defaults_follow_the_paper():
    cfg = from_dict(SearchConfig, {})
    lambdas = (
        cfg.loss.lambda_adv_a,
        cfg.loss.lambda_adv_b,
        cfg.loss.lambda_cyc,
        cfg.loss.lambda_idt_a,
        cfg.loss.lambda_idt_b,
    )
    assert lambdas == (1.0, 1.0, 10.0, 5.0, 5.0)
    assert (cfg.optim.lr, cfg.optim.beta1, cfg.optim.beta2) == (2e-4, 0.5, 0.999)
    assert (cfg.scheme, cfg.epochs, cfg.n_cells, cfg.hidden_dim, cfg.loss.pool_size) == ("OF", 400, 11, 16, 50)
    assert cfg.data == DataConfig()
    assert from_dict(RetrainConfig, {}).genotypes == "cyclegan"


def test_unknown_top_level_key_names_it_and_suggests():
    err = error_of(SearchConfig, {"epoch": 3})
    assert err.key == "epoch" and "'epochs'" in str(err)


def test_unknown_nested_key_names_dotted_path():
    err = error_of(SearchConfig, {"optim": {"lrr": 1e-4}})
    assert err.key == "optim.lrr" and "'optim.lr'" in str(err)
    err = error_of(RetrainConfig, {"data": {"crop": 64}})
    assert err.key == "data.crop" and "data.crop_size" in str(err)


def test_leaf_key_at_wrong_level_points_to_its_section():
    err = error_of(SearchConfig, {"lr": 1e-4})
    assert err.key == "lr" and "'optim.lr'" in str(err)


def test_unknown_key_without_close_match_lists_keys():
    err = error_of(LossConfig, {"zzz": 1})
    assert "gan_mode" in str(err) and "pool_size" in str(err)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"epochs": "three"}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"gumbel": 1}, "gumbel"),
        ({"scheme": "OFX"}, "scheme"),
        ({"mixed_op_mode": True}, "mixed_op_mode"),
        ({"data": {"flip": "sometimes"}}, "data.flip"),
        ({"data": {"max_images": "all"}}, "data.max_images"),
        ({"data": 5}, "data"),
        ({"loss": {"gan_mode": "wgan"}}, "loss.gan_mode"),
        ({"optim": {"lr": [1]}}, "optim.lr"),
        ({"device": 3}, "device"),
    ],
)
def test_wrong_type_names_key(data, key):
    assert error_of(SearchConfig, data).key == key


@pytest.mark.parametrize(
    ("cls", "data", "key"),
    [
        (SearchConfig, {"epochs": 0}, "epochs"),
        (SearchConfig, {"n_cells": 2}, "n_cells"),
        (SearchConfig, {"hidden_dim": 0}, "hidden_dim"),
        (SearchConfig, {"swap_epoch": 11, "epochs": 10}, "swap_epoch"),
        (SearchConfig, {"swap_epoch": 0}, "swap_epoch"),
        (SearchConfig, {"loss": {"lambda_cyc": -1}}, "loss.lambda_cyc"),
        (SearchConfig, {"optim": {"beta1": 1.0}}, "optim.beta1"),
        (SearchConfig, {"optim": {"lr": 0}}, "optim.lr"),
        (SearchConfig, {"device": "gpu0"}, "device"),
        (SearchConfig, {"max_iters_per_epoch": 0}, "max_iters_per_epoch"),
        (RetrainConfig, {"val_fraction": 1.0}, "val_fraction"),
        (RetrainConfig, {"val_fraction": -0.1}, "val_fraction"),
        (RetrainConfig, {"hidden_dim_b": 0}, "hidden_dim_b"),
        (RetrainConfig, {"n_epochs": 0, "n_epochs_decay": 0}, "n_epochs"),
        (RetrainConfig, {"discriminator": "stylegan"}, "discriminator"),
    ],
)
def test_bad_value_names_key(cls, data, key):
    assert error_of(cls, data).key == key


def test_direct_construction_is_checked_too():
    with pytest.raises(ConfigError, match="epochs"):
        SearchConfig(epochs="3")
    assert OptimConfig(lr=1).lr == 1.0 and isinstance(OptimConfig(lr=1).lr, float)


def test_valid_values_pass():
    cfg = from_dict(
        SearchConfig,
        {
            "scheme": "THS",
            "epochs": 10,
            "swap_epoch": 10,
            "gumbel": True,
            "optim": {"lr": 1},
            "data": {"max_images": None, "crop_size": 64},
        },
    )
    assert cfg.scheme == "THS" and cfg.swap_epoch == 10 and cfg.optim.lr == 1.0 and cfg.data.crop_size == 64


def test_overrides_parse_and_check_types():
    base = from_dict(SearchConfig, {})
    cfg = apply_overrides(
        base,
        [
            "optim.lr=1e-4",
            "data.flip=false",
            "epochs=3",
            "scheme=TH",
            "swap_epoch=2",
            "data.max_images=8",
            "loss.gan_mode=vanilla",
        ],
    )
    assert cfg.optim.lr == 1e-4 and cfg.data.flip is False and cfg.epochs == 3 and cfg.scheme == "TH"
    assert cfg.swap_epoch == 2 and cfg.data.max_images == 8 and cfg.loss.gan_mode == "vanilla"
    assert base.epochs == 400  # the original is untouched
    assert apply_overrides(cfg, ["swap_epoch=null"]).swap_epoch is None


def test_override_string_fields_keep_literal_text():
    cfg = apply_overrides(from_dict(SearchConfig, {}), ["data.root=2024", "device=cuda:1"])
    assert cfg.data.root == "2024" and cfg.device == "cuda:1"
    assert apply_overrides(cfg, ["data.root=off"]).data.root == "off"  # YAML alone would read false


def test_checks_inside_the_data_config_are_keyed_under_data():
    err = error_of(SearchConfig, {"data": {"cache": "bogus"}})
    assert err.key.startswith("data") and "cache" in str(err)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lrr=1", "optim.lrr"),
        ("epoch=3", "epoch"),
        ("epochs=many", "epochs"),
        ("data.flip=maybe", "data.flip"),
        ("optim.lr.x=1", "optim.lr"),
        ("epochs", "epochs"),
        ("epochs=0", "epochs"),
    ],
)
def test_bad_overrides_name_key(override, key):
    with pytest.raises(ConfigError) as info:
        apply_overrides(from_dict(SearchConfig, {}), [override])
    assert info.value.key == key


def test_yaml_round_trip(tmp_path):
    cfg = from_dict(
        RetrainConfig,
        {
            "data": {"root": "datasets/facades", "crop_size": 64, "load_size": 72},
            "hidden_dim_b": 48,
            "val_fraction": 0.1,
            "optim": {"lr": 1.5e-5},
        },
    )
    save_yaml(cfg, tmp_path / "config.yaml")
    assert load_yaml(RetrainConfig, tmp_path / "config.yaml") == cfg
    cfg.save_yaml(tmp_path / "again.yaml")
    assert yaml.safe_load((tmp_path / "again.yaml").read_text()) == cfg.to_dict() == to_dict(cfg)


def test_load_yaml_applies_overrides_and_names_file(tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text("epochs: 5\nloss:\noptim:\n  lr: 1e-3\n")  # empty section and exponent without a dot
    cfg = load_yaml(SearchConfig, path, overrides=["epochs=7"])
    assert cfg.epochs == 7 and cfg.optim.lr == 1e-3 and cfg.loss == LossConfig()
    path.write_text("optim:\n  betas: [0.5, 0.9]\n")
    with pytest.raises(ConfigError, match="search.yaml: optim.betas"):
        load_yaml(SearchConfig, path)
    path.write_text("epochs: [1\n")
    with pytest.raises(ConfigError, match="search.yaml.*not valid YAML"):
        load_yaml(SearchConfig, path)
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_yaml(SearchConfig, tmp_path / "missing.yaml")


@dataclass(frozen=True)
class Inner:
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[str, float] = ("a", 1.0)


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    name: str | None = None


def test_generic_helpers_handle_tuples_on_any_dataclass(tmp_path):
    cfg = apply_overrides(from_dict(Outer, {}), ["inner.sizes=[3, 4, 5]", "inner.pair=[b, 2]", "name=x"])
    assert cfg == Outer(Inner((3, 4, 5), ("b", 2.0)), "x")
    assert to_dict(cfg) == {"inner": {"sizes": [3, 4, 5], "pair": ["b", 2.0]}, "name": "x"}
    save_yaml(cfg, tmp_path / "o.yaml")
    assert load_yaml(Outer, tmp_path / "o.yaml") == cfg
    with pytest.raises(ConfigError) as info:
        apply_overrides(cfg, ["inner.pair=[b]"])
    assert info.value.key == "inner.pair"
    with pytest.raises(ConfigError) as info:
        from_dict(Outer, {"inner": {"sizes": [1, "x"]}})
    assert info.value.key == "inner.sizes[1]"


def test_importing_the_config_module_loads_no_torch_and_no_network_code():
    # a fresh interpreter: this test process has torch loaded already
    code = (
        "import sys, nasplatform.engine.config, nasplatform.tune.spec; "
        "print([m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith('nasplatform.nets')"
        " or m.startswith('nasplatform.ops') or m == 'nasplatform.engine.accel'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize(
    "device",
    [
        "cpu",
        "cuda",
        "cuda:0",
        "cuda:12",
        "mps",
        "xpu:1",
        "meta",
        "cpu:0",
        "hip",
        "gpu0",
        "gpu",
        "CUDA",
        "cuda:",
        "cuda:-1",
        "cuda:01",
        "cuda:1:2",
        " cpu",
        "cuda 1",
        "",
    ],
)
def test_device_check_agrees_with_torch(device):
    import torch

    try:
        torch.device(device)
        torch_accepts = True
    except (RuntimeError, ValueError):
        torch_accepts = False
    assert (DEVICE_PATTERN.fullmatch(device) is not None) == torch_accepts


def test_retrain_epochs_is_the_total_and_says_how_to_set_it():
    assert from_dict(RetrainConfig, {"n_epochs": 3, "n_epochs_decay": 2}).epochs == 5
    err = error_of(RetrainConfig, {"epochs": 5})
    assert err.key == "epochs" and "n_epochs + n_epochs_decay" in err.reason


def test_old_hidden_dim_of_a_retrain_config_is_read_as_hidden_dim_a(tmp_path):
    assert from_dict(RetrainConfig, {"hidden_dim": 8}).hidden_dim_a == 8
    assert apply_overrides(RetrainConfig(), ["hidden_dim=3"]).hidden_dim_a == 3
    (tmp_path / "config.yaml").write_text("genotypes: cyclegan\nhidden_dim: 12\nhidden_dim_b: null\n")
    assert load_yaml(RetrainConfig, tmp_path / "config.yaml") == RetrainConfig(hidden_dim_a=12)
    err = error_of(RetrainConfig, {"hidden_dim": 8, "hidden_dim_a": 8})
    assert err.key == "hidden_dim" and "renamed 'hidden_dim_a'" in err.reason
    # a search has one H for both supernet generators: it keeps its name
    assert from_dict(SearchConfig, {"hidden_dim": 8}).hidden_dim == 8
    assert error_of(SearchConfig, {"hidden_dim_a": 8}).key == "hidden_dim_a"
