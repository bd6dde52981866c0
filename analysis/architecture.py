"""Search-run architecture figures: alpha mixing-weight heatmaps (absolute and minus uniform) and genotype diagrams."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from analysis.load import GENOTYPE_COLUMNS, NETWORKS, AnalysisInputError
from analysis.style import FigureFiles, save_figure, suptitle

NETWORK_TITLES = {"g_a": "G_A (A→B)", "g_b": "G_B (B→A)", "d_a": "D_A", "d_b": "D_B"}
CELL_COLORS = {"e": "#cfe2f3", "r": "#d9ead3", "d": "#fce5cd", "fixed": "#eeeeee"}


def alpha_rows(history: pd.DataFrame, network: str, value: str = "weight") -> pd.DataFrame:
    """One network's `value` column as a matrix: index (mixed_op, op) in cell/position order, columns = epochs."""
    part = history[history["network"] == network]
    order = part.drop_duplicates(["mixed_op", "op"])[["cell", "position", "mixed_op", "op"]]
    order = order.assign(rank=range(len(order))).sort_values(["cell", "position", "rank"])
    matrix = part.pivot_table(index=["mixed_op", "op"], columns="epoch", values=value, aggfunc="mean")
    return matrix.reindex(pd.MultiIndex.from_frame(order[["mixed_op", "op"]]))


def alpha_deviation(history: pd.DataFrame) -> pd.DataFrame:
    """`history` plus `n_candidates` (K) and `deviation` = softmax(alpha) - 1/K of each (network, mixed_op, epoch).

    K is counted per mixed op because the op sets differ (S^e, S^r, S^d). The softmax is recomputed from the raw
    alphas in float64: the stored weights are float32, whose rounding (~1e-8) is not negligible next to the
    ~1e-4 deviations of a short search.
    """
    keys = ["network", "mixed_op", "epoch"]
    repeated = history.duplicated(keys + ["op"])
    if repeated.any():
        first = history[repeated].iloc[0]
        raise AnalysisInputError(
            f"alpha history: {int(repeated.sum())} repeated (network, mixed_op, epoch, op) row(s), first "
            f"({first['network']}, {first['mixed_op']}, {first['epoch']}, {first['op']}); the softmax needs one each"
        )
    if history.empty:
        return history.assign(n_candidates=pd.Series(dtype="int64"), deviation=pd.Series(dtype="float64"))
    by_op = [history[k] for k in keys]
    k = history.groupby(by_op)["op"].transform("size")
    shifted = np.exp(history["alpha"] - history.groupby(by_op)["alpha"].transform("max"))
    weight = shifted / shifted.groupby(by_op).transform("sum")
    return history.assign(n_candidates=k.astype("int64"), deviation=weight - 1.0 / k)


def alpha_heatmap(history: pd.DataFrame, title: str, folder: Path, stem: str) -> FigureFiles:
    """Heatmaps of the mixing weights: y = mixed op x candidate op, x = epoch, one panel per network."""
    vmax = float(history["weight"].max()) if len(history) else 1.0
    fig = _alpha_panels(
        history,
        "weight",
        dict(cmap="viridis", vmin=0, vmax=vmax),
        "white",
        "#e31a1c",
        "mixing weight softmax(alpha)",
        {},
    )
    suptitle(fig, f"{title}\nmixing weights over the search (dot: argmax at the last epoch = derived op)")
    table = history.sort_values(["network", "cell", "position", "op", "epoch"])
    return save_figure(
        fig,
        table[["network", "mixed_op", "cell", "cell_type", "position", "op", "epoch", "alpha", "weight"]],
        folder,
        stem,
    )


def alpha_deviation_heatmap(history: pd.DataFrame, title: str, folder: Path, stem: str) -> FigureFiles:
    """Heatmaps of softmax(alpha) - 1/K (K = candidates of each mixed op) on a diverging scale centred at 0.

    After a short search every weight is within ~1e-3 of uniform, so the absolute heatmap looks flat; this one
    spans +- the largest |deviation| in the run, so the ops the search favours show up.
    """
    table = alpha_deviation(history)
    span = float(table["deviation"].abs().max()) if len(table) else 0.0
    # All-uniform weights (e.g. only the initialisation with alpha = 0) still need a non-empty colour range.
    limit = span if span > 0 else 1.0
    per_network = {n: float(table.loc[table["network"] == n, "deviation"].abs().max()) for n in NETWORKS}
    label = f"softmax(alpha) − 1/K, K = candidate ops of the mixed op\n(colour range ± max |deviation| = {span:.1e})"
    fig = _alpha_panels(
        table,
        "deviation",
        dict(cmap="RdBu_r", vmin=-limit, vmax=limit),
        "#777777",
        "black",
        label,
        {n: f"max |deviation| = {v:.1e}" for n, v in per_network.items() if np.isfinite(v)},
    )
    suptitle(
        fig,
        f"{title}\nmixing weights minus uniform 1/K per mixed op, max |deviation| = {span:.1e} "
        "(red: above uniform, blue: below; dot: argmax at the last epoch = derived op)",
    )
    table = table.sort_values(["network", "cell", "position", "op", "epoch"])
    return save_figure(
        fig,
        table[
            [
                "network",
                "mixed_op",
                "cell",
                "cell_type",
                "position",
                "op",
                "epoch",
                "alpha",
                "weight",
                "n_candidates",
                "deviation",
            ]
        ],
        folder,
        stem,
    )


def _alpha_panels(
    table: pd.DataFrame, value: str, scale: dict, line_color: str, dot_color: str, label: str, notes: dict[str, str]
) -> Figure:
    """The 2x2 panels (generators on top, discriminators below) of one column of the alpha history."""
    matrices = {n: alpha_rows(table, n, value) for n in NETWORKS}
    heights = [max(len(matrices["g_a"]), len(matrices["g_b"]), 4), max(len(matrices["d_a"]), len(matrices["d_b"]), 4)]
    # At least 4.5 in tall, so the colourbar label (two lines for the deviation view) is not clipped.
    fig = Figure(figsize=(15, max(4.5, 1.5 + 0.105 * sum(heights))), layout="constrained")
    axes = fig.subplots(2, 2, gridspec_kw={"height_ratios": heights})
    image = None
    for ax, network in zip(axes.flat, NETWORKS):
        title = " · ".join([NETWORK_TITLES[network]] + ([notes[network]] if network in notes else []))
        image = _heatmap_panel(ax, matrices[network], title, scale, line_color, dot_color) or image
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.5, label=label)
    return fig


def _heatmap_panel(ax, matrix: pd.DataFrame, title: str, scale: dict, line_color: str, dot_color: str):
    ax.set_title(title, fontsize=9)
    if matrix.empty:
        ax.text(0.5, 0.5, "no alphas recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return None
    epochs = list(matrix.columns)
    image = ax.imshow(
        matrix.to_numpy(),
        aspect="auto",
        interpolation="nearest",
        **scale,
        extent=(-0.5, len(epochs) - 0.5, len(matrix) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(matrix)), [f"{m} · {o}" for m, o in matrix.index], fontsize=5.5)
    step = max(1, len(epochs) // 10)
    ax.set_xticks(range(0, len(epochs), step), [str(int(e)) for e in epochs[::step]], fontsize=7)
    ax.set_xlabel("epoch (0 = initialisation)", fontsize=8)
    mixed = matrix.index.get_level_values(0)
    for boundary in np.flatnonzero(mixed[1:] != mixed[:-1]):
        ax.axhline(boundary + 0.5, color=line_color, lw=0.6)
    last = matrix.iloc[:, -1]
    for mixed_op in dict.fromkeys(mixed):
        best = last[mixed_op].idxmax()
        ax.plot([len(epochs) - 1], [matrix.index.get_loc((mixed_op, best))], "o", color=dot_color, markersize=3)
    return image


def genotype_cells(genotype: dict, network: str) -> list[tuple[str, str, list[str]]]:
    """(box label, cell type, op names) from stem to head, for a generator or discriminator genotype."""
    if network.startswith("g"):
        residual = genotype["residual"]
        cells = [("stem", "fixed", ["conv7x7 3→H"]), ("C1 e", "e", list(genotype["encoding"]))]
        cells += [(f"C{i + 2} r", "r", list(ops)) for i, ops in enumerate(residual)]
        cells.append((f"C{len(residual) + 2} d", "d", list(genotype["decoding"])))
        cells.append(("head", "fixed", ["conv7x7 H→3", "tanh"]))
        return cells
    cells = [("input", "fixed", ["image"])]
    cells += [(f"cell{i + 1} e", "e", list(ops)) for i, ops in enumerate(genotype["cells"])]
    return cells + [("head", "fixed", ["conv4x4 →1", "logits"])]


def parse_genotypes(row: pd.Series, where: str) -> dict[str, dict]:
    """The genotype JSON columns of a results row -> {network: dict}; absent columns are left out."""
    genotypes = {}
    for column in GENOTYPE_COLUMNS:
        text = row[column]
        if text is None:
            continue
        try:
            data = json.loads(text)
            genotype_cells(data, column.removeprefix("genotype_"))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise AnalysisInputError(f"{where}: column {column!r} is not a genotype JSON ({exc!r})") from exc
        genotypes[column.removeprefix("genotype_")] = data
    return genotypes


def genotype_diagram(genotypes: dict[str, dict], title: str, folder: Path, stem: str) -> FigureFiles:
    """Each network as a chain of boxes stem -> cells -> head with the op names inside each cell."""
    networks = [n for n in NETWORKS if n in genotypes]
    chains = {n: genotype_cells(genotypes[n], n) for n in networks}
    width = max(len(c) for c in chains.values()) * 1.45
    fig = Figure(figsize=(max(8.0, width * 1.05), 1.1 + 1.5 * len(networks)), layout="constrained")
    ax = fig.add_subplot()
    records = []
    for row, network in enumerate(networks):
        y = -row * 1.6
        ax.text(-0.3, y, NETWORK_TITLES[network], ha="right", va="center", fontsize=9, fontweight="bold")
        records += _draw_chain(ax, chains[network], y, network)
    ax.set_xlim(-2.2, width + 0.2)
    ax.set_ylim(-1.6 * len(networks) + 0.6, 1.0)
    ax.set_axis_off()
    suptitle(fig, f"{title}\nderived genotypes (argmax alpha); arcs: residual skip connections")
    return save_figure(fig, pd.DataFrame.from_records(records), folder, stem)


def _draw_chain(ax, chain: list[tuple[str, str, list[str]]], y: float, network: str) -> list[dict]:
    records = []
    for i, (label, cell_type, ops) in enumerate(chain):
        x = i * 1.45
        ax.add_patch(
            FancyBboxPatch(
                (x, y - 0.45),
                1.1,
                0.9,
                boxstyle="round,pad=0.02",
                facecolor=CELL_COLORS[cell_type],
                edgecolor="#444444",
                lw=0.8,
            )
        )
        ax.text(x + 0.55, y + 0.3, label, ha="center", va="center", fontsize=7, fontweight="bold")
        ax.text(x + 0.55, y - 0.08, "\n".join(ops), ha="center", va="center", fontsize=6.2, linespacing=1.3)
        if i:
            ax.add_patch(FancyArrowPatch((x - 0.35, y), (x, y), arrowstyle="-|>", mutation_scale=8, color="#333333"))
        if cell_type == "r":
            ax.add_patch(
                FancyArrowPatch(
                    (x + 0.1, y + 0.45),
                    (x + 1.0, y + 0.45),
                    connectionstyle="arc3,rad=-0.6",
                    arrowstyle="-|>",
                    mutation_scale=6,
                    color="#6a6a6a",
                    lw=0.7,
                )
            )
        records += [
            {"network": network, "block": i, "label": label, "cell_type": cell_type, "position": p, "op": op}
            for p, op in enumerate(ops)
        ]
    return records
