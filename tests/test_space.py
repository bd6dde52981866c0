"""Genotypes, their validation and JSON round trip, and the search-space size."""

import dataclasses
import json

import pytest

from nasplatform.space import (
    NAMED_GENOTYPES,
    OP_SETS,
    CellType,
    DiscriminatorGenotype,
    GeneratorGenotype,
    GenotypeError,
    genotype_from_json,
    named_genotype,
    search_space_size,
)


def test_op_sets_match_design():
    assert len(OP_SETS[CellType.ENCODING]) == 8 and "conv7x7" in OP_SETS[CellType.ENCODING]
    assert OP_SETS[CellType.RESIDUAL] == ("conv3x3", "conv5x5", "conv7x7", "dil_conv3x3", "dil_conv5x5")
    assert OP_SETS[CellType.DECODING] == ("nearest", "bilinear", "trans_conv3x3")


@pytest.mark.parametrize("name", sorted(NAMED_GENOTYPES))
def test_json_round_trip(name):
    g = named_genotype(name)
    again = genotype_from_json(g.to_json())
    assert again == g and hash(again) == hash(g)
    assert json.loads(g.to_json())["kind"] == g.kind


def test_cyclegan_is_resnet9_point():
    g = named_genotype("cyclegan")
    assert g.n_cells == 11
    assert set(g.residual) == {("conv3x3", "conv3x3")}
    assert g.decoding == ("trans_conv3x3", "trans_conv3x3")


def test_genotype_is_frozen():
    g = named_genotype("cyclegan")
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.encoding = ("avg_pool", "avg_pool")


@pytest.mark.parametrize(
    "data, field",
    [
        (
            {"encoding": ["conv3x3", "nope"], "residual": [["conv3x3", "conv3x3"]], "decoding": ["nearest", "nearest"]},
            "encoding[1]",
        ),
        (
            {
                "encoding": ["conv3x3", "conv3x3"],
                "residual": [["conv3x3", "max_pool"]],
                "decoding": ["nearest", "nearest"],
            },
            "residual[0][1]",
        ),
        (
            {
                "encoding": ["conv3x3", "conv3x3"],
                "residual": [["conv3x3", "conv3x3"]],
                "decoding": ["conv3x3", "nearest"],
            },
            "decoding[0]",
        ),
        (
            {"encoding": ["conv3x3"], "residual": [["conv3x3", "conv3x3"]], "decoding": ["nearest", "nearest"]},
            "encoding",
        ),
        ({"encoding": ["conv3x3", "conv3x3"], "residual": [], "decoding": ["nearest", "nearest"]}, "residual"),
        ({"encoding": ["conv3x3", "conv3x3"], "residual": [["conv3x3", "conv3x3"]]}, "decoding"),
        (
            {
                "encoding": ["conv3x3", "conv3x3"],
                "residual": [["conv3x3", "conv3x3"]],
                "decoding": ["nearest", "nearest"],
                "extra": 1,
            },
            "extra",
        ),
        ({"kind": "discriminator", "cells": [["conv4x4", "conv4x4"]]}, "cells"),
        ({"kind": "discriminator", "cells": [["conv4x4", "conv4x4"], ["conv4x4", "trans_conv3x3"]]}, "cells[1][1]"),
        ({"kind": "mystery", "cells": []}, "kind"),
    ],
)
def test_validation_names_field(data, field):
    with pytest.raises(GenotypeError) as err:
        genotype_from_json(json.dumps(data))
    assert str(err.value).startswith(field + ":"), str(err.value)


def test_not_allowed_message_says_cell_type():
    with pytest.raises(GenotypeError, match="not allowed in a residual cell"):
        GeneratorGenotype(("conv3x3", "conv3x3"), (("avg_pool", "conv3x3"),), ("nearest", "nearest"))


def test_bad_json_is_genotype_error():
    with pytest.raises(GenotypeError, match="does not parse"):
        genotype_from_json("{not json")


def test_unknown_named_genotype():
    with pytest.raises(GenotypeError, match="known"):
        named_genotype("resnet50")


def test_search_space_size():
    size = search_space_size(11)
    assert size.generator == 8**2 * 5**18 * 3**2
    assert f"{size.generator:.4g}" == "2.197e+15"
    assert size.discriminator == 4096
    assert f"{size.all_networks:.2g}" == "8.1e+37"
    assert search_space_size(3).generator == 64 * 25 * 9
    with pytest.raises(ValueError):
        search_space_size(2)


def test_discriminator_genotype_round_trip():
    d = DiscriminatorGenotype(cells=(("max_pool", "dil_conv5x5"), ("conv7x7", "avg_pool")))
    assert genotype_from_json(d.to_json()) == d


def test_former_patchgan_genotype_name_loads_with_a_warning_naming_the_new_one(tmp_path):
    # "patchgan" named the search-space point until the official network took that name alone
    from nasplatform.nets.build import load_genotypes

    with pytest.warns(FutureWarning, match="patchgan_point"):
        assert named_genotype("patchgan") == named_genotype("patchgan_point")
    gen = named_genotype("cyclegan").to_dict()
    path = tmp_path / "genotypes.json"
    path.write_text(json.dumps({"g_a": gen, "g_b": gen, "d_a": "patchgan", "d_b": "patchgan_point"}))
    with pytest.warns(FutureWarning):
        loaded = load_genotypes(str(path))
    assert loaded["d_a"] == loaded["d_b"] == named_genotype("patchgan_point")
