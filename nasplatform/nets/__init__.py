"""Networks: generator/discriminator supernets, discrete networks from genotypes, the PatchGAN baseline."""

from nasplatform.nets.cost import ModelCost, count_macs, count_params, model_cost, size_mb
from nasplatform.nets.discrete import Discriminator, Generator, inherit_weights
from nasplatform.nets.layout import Slot, discriminator_slots, generator_slots
from nasplatform.nets.patchgan import PatchGANDiscriminator
from nasplatform.nets.registry import NETWORKS, build_network, register_network
from nasplatform.nets.supernet import DiscriminatorSupernet, GeneratorSupernet

__all__ = [
    "ModelCost",
    "count_macs",
    "count_params",
    "model_cost",
    "size_mb",
    "Discriminator",
    "Generator",
    "inherit_weights",
    "Slot",
    "discriminator_slots",
    "generator_slots",
    "PatchGANDiscriminator",
    "NETWORKS",
    "build_network",
    "register_network",
    "DiscriminatorSupernet",
    "GeneratorSupernet",
]
