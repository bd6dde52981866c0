"""Registry of buildable networks (timm-style): name -> factory(width, **options), with its kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from nasplatform.nets.discrete import Discriminator, Generator
from nasplatform.nets.patchgan import PatchGANDiscriminator
from nasplatform.nets.supernet import DiscriminatorSupernet, GeneratorSupernet
from nasplatform.space.genotype import CYCLEGAN, PATCHGAN_POINT


@dataclass(frozen=True)
class NetworkEntry:
    """`width` is the hidden dim H for generators and ndf for discriminators."""

    name: str
    kind: str
    factory: Callable[..., nn.Module]
    searchable: bool


NETWORKS: dict[str, NetworkEntry] = {}


def register_network(name: str, kind: str, searchable: bool = False):
    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in NETWORKS:
            raise KeyError(f"network {name!r} registered twice")
        NETWORKS[name] = NetworkEntry(name, kind, factory, searchable)
        return factory

    return wrap


def build_network(name: str, width: int, **options) -> nn.Module:
    try:
        entry = NETWORKS[name]
    except KeyError:
        raise KeyError(f"unknown network {name!r}; registered: {sorted(NETWORKS)}") from None
    return entry.factory(width, **options)


@register_network("generator_supernet", "generator", searchable=True)
def _generator_supernet(width: int, n_cells: int = 11, mode: str = "merged") -> nn.Module:
    return GeneratorSupernet(n_cells=n_cells, hidden_dim=width, mode=mode)


@register_network("discriminator_supernet", "discriminator", searchable=True)
def _discriminator_supernet(width: int, mode: str = "merged") -> nn.Module:
    return DiscriminatorSupernet(ndf=width, mode=mode)


@register_network("cyclegan", "generator")
def _cyclegan(width: int) -> nn.Module:
    return Generator(CYCLEGAN, hidden_dim=width)


@register_network("patchgan_point", "discriminator")
def _patchgan_point(width: int) -> nn.Module:
    return Discriminator(PATCHGAN_POINT, ndf=width)


@register_network("patchgan", "discriminator")
def _patchgan(width: int) -> nn.Module:
    return PatchGANDiscriminator(ndf=width)
