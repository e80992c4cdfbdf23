"""Figures: top-1 against compression ratio, one line per method with a band over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation, LogLocator  # noqa: E402

from weightmom.atomic import atomic_path  # noqa: E402

# Methods with the same layer allocation draw on top of each other: vary the markers and
# dashes too, so every line stays visible.
_STYLES = [(marker, dash) for dash in ("-", "--", ":") for marker in ("o", "s", "^", "D", "v", "P", "X", "*")]


def accuracy_vs_compression(frame: pd.DataFrame, methods: Sequence[str], title: str, path: str | Path) -> None:
    """Mean top-1 per round against mean compression; the band is +- one std over seeds."""
    figure, axes = plt.subplots(figsize=(6.4, 4.4), dpi=150)
    for method in methods:
        rows = frame[frame["method"] == method]
        if rows.empty:
            continue
        by_round = rows.groupby("round").agg(
            compression=("compression_ratio", "mean"), top1=("top1", "mean"), spread=("top1", "std")
        )
        spread = by_round["spread"].fillna(0.0) * 100
        line = axes.plot(by_round["compression"], by_round["top1"] * 100, marker="o", markersize=3, label=method)
        axes.fill_between(
            by_round["compression"],
            by_round["top1"] * 100 - spread,
            by_round["top1"] * 100 + spread,
            color=line[0].get_color(),
            alpha=0.2,
            linewidth=0,
        )
    dense = frame[frame["round"] == 0]["top1"]
    if not dense.empty:
        axes.axhline(dense.mean() * 100, color="grey", linestyle="--", linewidth=1, label="dense")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axes.set_xlabel("compression ratio (prunable weights / surviving weights)")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(title="method")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)


class _PercentLogMinor(LogFormatterSciNotation):
    """Matplotlib's choice of which minor log ticks to label (only on a short axis),
    written as percentages like the major ticks instead of as 6 x 10^0."""

    def __call__(self, value: float, pos: int | None = None) -> str:
        return f"{value:g}%" if super().__call__(value, pos) else ""


def layer_density(layers: pd.DataFrame, methods: Sequence[str], title: str, path: str | Path) -> None:
    """Density of every prunable layer after the final round, one line per method (mean
    over seeds), layers in network order: a collapsing layer shows as a drop to the floor."""
    final = layers[layers["round"] == layers.groupby("method")["round"].transform("max")]
    order = list(dict.fromkeys(final["layer"]))
    figure, axes = plt.subplots(figsize=(max(6.4, 0.35 * len(order) + 2), 4.4), dpi=150)
    for index, method in enumerate(methods):
        rows = final[final["method"] == method]
        if rows.empty:
            continue
        density = rows.groupby("layer")["density"].mean().reindex(order) * 100
        marker, dash = _STYLES[index % len(_STYLES)]
        axes.plot(range(len(order)), density.to_numpy(), marker=marker, linestyle=dash, markersize=5, label=method)
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}%"))
    axes.yaxis.set_minor_formatter(_PercentLogMinor(labelOnlyBase=False))
    axes.set_xticks(range(len(order)))
    axes.set_xticklabels([name.removesuffix(".weight") for name in order], rotation=60, ha="right", fontsize=7)
    axes.set_xlabel("prunable layer (network order)")
    axes.set_ylabel("surviving weights (%, log scale)")
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(title="method", fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)


def finetune_curves(steps: pd.DataFrame, dense_top1: float | None, methods: Sequence[str], title: str, path: str | Path) -> None:
    """Validation top-1 after every fine-tuning epoch against that epoch counted over the
    rounds one after another (weightmom.reports.finetune_steps: mean over seeds), one line
    per method; dotted guides where a round ends (the next one prunes), the dense model's
    last validation top-1 as a dashed reference."""
    figure, axes = plt.subplots(figsize=(7.2, 4.4), dpi=150)
    ends: list[int] = []
    for index, method in enumerate(methods):
        rows = steps[steps["method"] == method].sort_values("step")
        if rows.empty:
            continue
        marker, dash = _STYLES[index % len(_STYLES)]
        axes.plot(
            rows["step"], rows["val_top1"] * 100, marker=marker, linestyle=dash, markersize=3 if len(rows) <= 60 else 0,
            linewidth=1.2, label=method,
        )
        if not ends:  # every method follows the same fine-tuning recipe: the first one's rounds
            ends = rows.groupby("round")["step"].max().sort_index().tolist()
    for end in ends[:-1]:
        axes.axvline(end + 0.5, color="grey", linestyle=":", linewidth=0.8)
    starts = [0, *ends[:-1]]
    for number, (begin, end) in enumerate(zip(starts, ends), start=1):
        axes.text((begin + end + 1) / 2, 1.01, f"round {number}", transform=axes.get_xaxis_transform(),
                  ha="center", va="bottom", fontsize=7, color="grey")
    if dense_top1 is not None:
        axes.axhline(dense_top1 * 100, color="grey", linestyle="--", linewidth=1, label="dense (last epoch)")
    if ends:
        axes.set_xlim(0.5, ends[-1] + 0.5)
        axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_xlabel("fine-tuning epoch (rounds one after another)")
    axes.set_ylabel("validation top-1 (%)")
    axes.set_title(title, pad=14)
    axes.grid(True, alpha=0.3)
    axes.legend(title="method", fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
