"""`nasplatform space` and `nasplatform arch` from the command line."""

import json
import subprocess
import sys

import pytest

from nasplatform.cli import main


def test_space_json(capsys):
    assert main(["space", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["generator"] == 8**2 * 5**18 * 3**2
    assert data["discriminator"] == 4096 and f"{data['all_networks']:.2g}" == "8.1e+37"
    assert len(data["op_sets"]["e"]) == 8


def test_space_text(capsys):
    assert main(["space", "--n-cells", "5"]) == 0
    assert "conv7x7" in capsys.readouterr().out


def test_arch_named_json(capsys):
    assert main(["arch", "cyclegan", "--hidden-dim", "32", "--macs-size", "64", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cyclegan"]["params"] == 2_850_563 and data["cyclegan"]["mb"] == pytest.approx(11.402252)


def test_arch_genotypes_file(tmp_path, capsys):
    from nasplatform.space import named_genotype

    path = tmp_path / "genotypes.json"
    gen, disc = named_genotype("cyclegan").to_dict(), named_genotype("patchgan_point").to_dict()
    path.write_text(json.dumps({"g_a": gen, "g_b": gen, "d_a": disc, "d_b": disc}))
    assert main(["arch", str(path), "--hidden-dim", "16", "--ndf", "8", "--macs-size", "32", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"g_a", "g_b", "d_a", "d_b"} and data["g_a"]["params"] == 715_651


def test_arch_bad_genotype_names_field(capsys):
    bad = json.dumps(
        {"encoding": ["conv3x3", "conv3x3"], "residual": [["conv3x3", "avg_pool"]], "decoding": ["nearest", "nearest"]}
    )
    assert main(["arch", bad]) == 2
    assert "residual[0][1]" in capsys.readouterr().err


def test_console_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "nasplatform", "--help"], capture_output=True, text=True, check=True)
    assert "space" in out.stdout and "arch" in out.stdout


def _subparsers(parser, prefix=""):
    """(command path, parser) of every command and sub-command."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from _subparsers(sub, f"{prefix}{name} ")


def test_image_size_has_one_meaning_the_training_crop():
    from nasplatform.cli import build_parser
    from nasplatform.cli.options import DeprecatedAlias

    owners = {
        name
        for name, sub in _subparsers(build_parser())
        for action in sub._actions
        if "--image-size" in action.option_strings and not isinstance(action, DeprecatedAlias)
    }
    assert owners == {"search", "retrain"}


@pytest.mark.parametrize("old, new", [("--image-size", "--macs-size")])
def test_old_arch_flag_still_works_and_says_its_new_name(capsys, old, new):
    assert main(["arch", "cyclegan", "--hidden-dim", "8", old, "64", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["cyclegan"]["image_size"] == 64 and f"{old} is deprecated here, use {new}" in err
