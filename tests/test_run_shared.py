"""What search and retrain share: range checks of their configs, resume of a run folder, CLI flags and assembly."""

import pytest

from nasplatform.cli import build_parser, main
from nasplatform.engine.config import ConfigError, RetrainConfig, SearchConfig, from_dict
from nasplatform.engine.retrain import resume_retrain
from nasplatform.engine.search import resume_search

SHARED_BAD = [
    ({"ndf": 0}, "ndf: must be >= 1, got 0"),
    ({"seed": -1}, "seed: must be >= 0, got -1"),
    ({"batch_size": 0}, "batch_size: must be >= 1, got 0"),
    ({"checkpoint_every": 0}, "checkpoint_every: must be >= 1, got 0"),
    ({"sample_every": 0}, "sample_every: must be >= 1, got 0"),
    ({"max_iters_per_epoch": 0}, "max_iters_per_epoch: must be >= 1, got 0"),
    ({"data": {"crop_size": 36, "load_size": 40}}, "data.crop_size: must be a multiple of 8, got 36"),
    ({"device": "gpu0"}, "device: not a torch device: 'gpu0' (e.g. 'cpu', 'cuda', 'cuda:1')"),
]


@pytest.mark.parametrize("cls", [SearchConfig, RetrainConfig])
@pytest.mark.parametrize(("data", "message"), SHARED_BAD)
def test_shared_range_checks_give_the_same_error_in_both_configs(cls, data, message):
    with pytest.raises(ConfigError) as info:
        from_dict(cls, data)
    assert str(info.value) == message


@pytest.mark.parametrize(("resume", "kind"), [(resume_search, "search"), (resume_retrain, "retrain")])
def test_resume_without_saved_config_names_the_file(tmp_path, resume, kind):
    with pytest.raises(FileNotFoundError) as info:
        resume(tmp_path, progress=False)
    assert str(info.value) == f"{tmp_path / 'config.yaml'}: no saved config; is {tmp_path} a {kind} run directory?"
    assert list(tmp_path.iterdir()) == []


def options_of(command: str) -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return [opt for action in sub.choices[command]._actions for opt in action.option_strings]


def test_search_and_retrain_list_their_flags():
    shared = ["--data", "--image-size", "--out", "--resume", "--config", "--set", "--no-progress", "--threads"]
    assert sorted(options_of("search")) == sorted(
        ["-h", "--help", *shared, "--scheme", "--epochs", "--hidden-dim", "--n-cells"]
    )
    assert sorted(options_of("retrain")) == sorted(
        [
            "-h",
            "--help",
            *shared,
            "--genotypes",
            "--hidden-dim",
            "--hidden-dim-a",
            "--hidden-dim-b",
            "--epochs",
            "--decay-epochs",
            "--discriminator",
        ]
    )


@pytest.mark.parametrize("command", ["search", "retrain"])
def test_missing_out_or_data_is_one_clear_error(tmp_path, capsys, command):
    assert main([command, "--data", str(tmp_path)]) == 2
    assert "--out and --data (or --config) are required unless --resume is given" in capsys.readouterr().err
    assert main([command, "--out", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()


def test_flags_become_config_keys(tmp_path):
    from nasplatform.cli.options import run_or_resume
    from nasplatform.engine.config import load_size_for

    args = build_parser().parse_args(
        [
            "retrain",
            "--data",
            str(tmp_path),
            "--image-size",
            "64",
            "--hidden-dim",
            "8",
            "--out",
            str(tmp_path / "run"),
            "--set",
            "seed=3",
            "--no-progress",
        ]
    )
    built = run_or_resume(
        args,
        RetrainConfig,
        {"hidden_dim_a": args.hidden_dim},
        run=lambda cfg, out, progress: (cfg, out, progress),
        resume=None,
    )
    cfg, out, progress = built
    assert (cfg.data.root, cfg.data.crop_size, cfg.data.load_size) == (str(tmp_path), 64, load_size_for(64))
    assert (cfg.hidden_dim_a, cfg.seed, out, progress) == (8, 3, str(tmp_path / "run"), False)


def test_bad_image_size_is_refused_before_the_run_folder_exists(tmp_path, capsys):
    assert main(["retrain", "--data", str(tmp_path), "--image-size", "36", "--out", str(tmp_path / "run")]) == 2
    assert "data.crop_size: must be a multiple of 8, got 36" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("flags", "keys"),
    [
        (["--epochs", "1"], (1, 0)),
        (["--epochs", "200"], (100, 100)),  # CycleGAN's 100 + 100
        (["--epochs", "5"], (3, 2)),
        (["--epochs", "5", "--decay-epochs", "0"], (5, 0)),
        (["--epochs", "5", "--decay-epochs", "5"], (0, 5)),
    ],
)
def test_retrain_epochs_is_the_total_like_search(tmp_path, flags, keys):
    from nasplatform.cli.options import run_or_resume
    from nasplatform.cli.retrain import epoch_keys

    args = build_parser().parse_args(["retrain", "--data", str(tmp_path), "--out", str(tmp_path / "run"), *flags])
    cfg, _, _ = run_or_resume(
        args,
        RetrainConfig,
        epoch_keys(args.epochs, args.decay_epochs),
        run=lambda cfg, out, progress: (cfg, out, progress),
        resume=None,
    )
    assert (cfg.n_epochs, cfg.n_epochs_decay) == keys and cfg.epochs == args.epochs


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "2", "--decay-epochs", "3"], "--decay-epochs 3: must be within 0..--epochs (2)"),
        (["--epochs", "0"], "--epochs 0: must be at least 1"),
    ],
)
def test_retrain_epochs_that_cannot_split_are_refused(tmp_path, capsys, flags, message):
    assert main(["retrain", "--data", str(tmp_path), "--out", str(tmp_path / "run"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_retrain_epochs_1_runs_exactly_one_epoch(tiny_data, tmp_path, capsys):
    import pandas as pd

    assert (
        main(
            [
                "retrain",
                "--data",
                str(tiny_data),
                "--image-size",
                "32",
                "--hidden-dim",
                "2",
                "--epochs",
                "1",
                "--no-progress",
                "--set",
                "ndf=4",
                "--set",
                "max_iters_per_epoch=1",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    assert "retrain ok: 1 epochs" in capsys.readouterr().out
    assert pd.read_parquet(tmp_path / "r" / "metrics.parquet")["epoch"].nunique() == 1


@pytest.mark.parametrize(
    ("command", "cls", "flags", "expected"),
    [
        (
            "search",
            SearchConfig,
            ["--scheme", "TH", "--epochs", "3", "--hidden-dim", "5", "--n-cells", "4"],
            {"scheme": "TH", "epochs": 3, "hidden_dim": 5, "n_cells": 4},
        ),
        (
            "retrain",
            RetrainConfig,
            [
                "--genotypes",
                "g.json",
                "--hidden-dim",
                "4",
                "--hidden-dim-a",
                "5",
                "--hidden-dim-b",
                "6",
                "--epochs",
                "7",
                "--decay-epochs",
                "2",
                "--discriminator",
                "searched",
            ],
            {
                "genotypes": "g.json",
                "hidden_dim_a": 5,
                "hidden_dim_b": 6,
                "n_epochs": 5,
                "n_epochs_decay": 2,
                "discriminator": "searched",
            },
        ),
    ],
)
def test_every_own_flag_reaches_its_config_key(tmp_path, command, cls, flags, expected):
    import importlib

    from nasplatform.cli.options import run_or_resume

    module = importlib.import_module(f"nasplatform.cli.{command}")
    args = build_parser().parse_args(
        [
            command,
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "run"),
            "--image-size",
            "64",
            "--threads",
            "2",
            *flags,
        ]
    )
    cfg, _, _ = run_or_resume(
        args, cls, module.config_flags(args), run=lambda cfg, out, progress: (cfg, out, progress), resume=None
    )
    assert {key: getattr(cfg, key) for key in expected} == expected
    assert (cfg.data.crop_size, cfg.threads) == (64, 2)
    # every flag of the command is either shared (options.py) or one of these keys: a new flag needs a key here
    own = {a.dest for a in build_parser()._subparsers._group_actions[0].choices[command]._actions if a.option_strings}
    shared = {"help", "data", "image_size", "threads", "out", "resume", "config", "overrides", "no_progress"}
    assert own - shared == {a.lstrip("-").replace("-", "_") for a in flags[::2]}


def test_a_retrain_folder_written_before_the_hidden_dim_a_rename_resumes(tiny_data, tmp_path):
    """The run folder of a retrain stopped after epoch 1 under the old spelling (config.yaml and the checkpoint's
    config say hidden_dim): --resume finishes it (docs/formats.md, "Renamed keys")."""
    import yaml

    from nasplatform.engine.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "r"
    assert (
        main(
            [
                "retrain",
                "--data",
                str(tiny_data),
                "--image-size",
                "32",
                "--hidden-dim-a",
                "2",
                "--hidden-dim-b",
                "3",
                "--epochs",
                "1",
                "--no-progress",
                "--set",
                "ndf=4",
                "--set",
                "max_iters_per_epoch=1",
                "--out",
                str(run),
            ]
        )
        == 0
    )

    def old(cfg):
        return {("hidden_dim" if k == "hidden_dim_a" else k): v for k, v in cfg.items()}

    saved = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump(old({**saved, "n_epochs": 2}), sort_keys=False))
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    save_checkpoint(run / "checkpoints" / "last.pt", {**state, "config": old({**state["config"], "n_epochs": 2})})
    assert "hidden_dim" in (run / "config.yaml").read_text() and "hidden_dim_a" not in (run / "config.yaml").read_text()
    assert main(["retrain", "--resume", str(run), "--no-progress"]) == 0
    assert resume_retrain(run, progress=False).outcome.epochs_done == 2
