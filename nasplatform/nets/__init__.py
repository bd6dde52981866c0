"""Networks: generator/discriminator supernets, discrete networks from genotypes, the PatchGAN baseline.

A run's four networks are built by nets/build.py (build_supernets, build_discrete).
"""

from nasplatform.nets.cost import ModelCost, count_macs, count_params, model_cost, size_mb
from nasplatform.nets.discrete import Discriminator, Generator
from nasplatform.nets.layout import Slot, discriminator_slots, generator_slots
from nasplatform.nets.patchgan import PatchGANDiscriminator
from nasplatform.nets.supernet import DiscriminatorSupernet, GeneratorSupernet

__all__ = [
    "ModelCost",
    "count_macs",
    "count_params",
    "model_cost",
    "size_mb",
    "Discriminator",
    "Generator",
    "Slot",
    "discriminator_slots",
    "generator_slots",
    "PatchGANDiscriminator",
    "DiscriminatorSupernet",
    "GeneratorSupernet",
]
