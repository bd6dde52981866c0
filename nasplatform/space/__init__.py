"""The CycleGANAS search space: op sets per cell type, genotypes and search-space size (paper §3.2)."""

from nasplatform.space.genotype import (
    NAMED_GENOTYPES,
    NETWORK_NAMES,
    RENAMED_GENOTYPES,
    DiscriminatorGenotype,
    GeneratorGenotype,
    GenotypeError,
    genotype_from_dict,
    genotype_from_json,
    genotypes_from_json,
    named_genotype,
)
from nasplatform.space.opsets import (
    DECODING_OPS,
    ENCODING_OPS,
    OP_SETS,
    OPS_PER_CELL,
    RESIDUAL_OPS,
    CellType,
)
from nasplatform.space.size import SpaceSize, search_space_size

__all__ = [
    "CellType",
    "DECODING_OPS",
    "ENCODING_OPS",
    "OP_SETS",
    "OPS_PER_CELL",
    "RESIDUAL_OPS",
    "DiscriminatorGenotype",
    "GeneratorGenotype",
    "GenotypeError",
    "NAMED_GENOTYPES",
    "NETWORK_NAMES",
    "RENAMED_GENOTYPES",
    "genotype_from_dict",
    "genotype_from_json",
    "genotypes_from_json",
    "named_genotype",
    "SpaceSize",
    "search_space_size",
]
