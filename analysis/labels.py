"""Architecture labels (`C32`, `C'64`, `N16`, `cyclegan`, `searched`): their family, H and color."""

from __future__ import annotations

import re
from dataclasses import dataclass

from analysis.style import CYCLEGAN_RED, OTHER_COLOR, SCALED_CYCLEGAN_RED, SEARCHED_GREEN

_LABEL = re.compile(r"^(C'|C|N)(\d+)$")


@dataclass(frozen=True)
class ArchLabel:
    """A size-matched label: `prefix` C (CycleGAN at H), C' (CycleGAN with per-generator H sized to
    the N model) or N (searched genotype sized to the C model); `hidden_dim` is H in the label."""

    prefix: str
    hidden_dim: int


def parse_label(label: str | None) -> ArchLabel | None:
    """`C<H>`, `C'<H>` or `N<H>` -> ArchLabel; anything else -> None."""
    match = _LABEL.match(label or "")
    return ArchLabel(match.group(1), int(match.group(2))) if match else None


def is_cyclegan(label: str | None) -> bool:
    """CycleGAN family: the `cyclegan` baseline or any label starting with C (C32, C'64, ...)."""
    return bool(label) and (label == "cyclegan" or label.startswith("C"))


def label_color(label: str | None) -> str:
    parsed = parse_label(label)
    if parsed and parsed.prefix == "C'":
        return SCALED_CYCLEGAN_RED
    if is_cyclegan(label):
        return CYCLEGAN_RED
    if label == "searched" or (parsed and parsed.prefix == "N"):
        return SEARCHED_GREEN
    return OTHER_COLOR


def label_order(labels: list[str]) -> list[str]:
    """C models first, then C', then N, each by H; unknown labels last in name order."""
    rank = {"C": 0, "C'": 1, "N": 2}

    def key(label: str) -> tuple:
        parsed = parse_label(label)
        return (rank[parsed.prefix], parsed.hidden_dim, label) if parsed else (3, 0, label)

    return sorted(labels, key=key)


def smallest_cyclegan(labels: list[str]) -> str | None:
    """The reference of a size-matched figure: the plain C<H> label with the smallest H (C32 in Fig. 5)."""
    plain = [lab for lab in labels if (p := parse_label(lab)) and p.prefix == "C"]
    return min(plain, key=lambda lab: parse_label(lab).hidden_dim) if plain else None


def model_names(rows) -> list[str]:
    """A readable model name per results row: a C/N label as it is (`N64`, as the figures group it), other
    architectures with their search scheme and H (`searched OF H=32`, `cyclegan H=16`), and the retrain
    discriminator where the rows mix more than one (`N64 D=searched`)."""
    mixed_d = "discriminator" in rows and rows["discriminator"].dropna().nunique() > 1
    names = []
    for row in rows.itertuples(index=False):
        arch = row.architecture or "?"
        parts = [arch]
        # C/N labels are the figures' group names as they are; other architectures need scheme and H.
        if parse_label(arch) is None and row.scheme and row.scheme not in arch:
            parts.append(row.scheme)
        if parse_label(arch) is None:
            ha, hb = row.hidden_dim_a, row.hidden_dim_b
            if ha == ha and ha is not None:  # not NaN
                parts.append(f"H={int(ha)}" if ha == hb else f"H={int(ha)}/{int(hb) if hb == hb else '?'}")
        if mixed_d and row.discriminator:
            parts.append(f"D={row.discriminator}")
        names.append(" ".join(parts))
    return names
