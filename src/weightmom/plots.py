"""Figures: top-1 against compression ratio, one line per method with a band over seeds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from weightmom.atomic import atomic_path  # noqa: E402

# Methods with the same layer allocation draw on top of each other: vary the markers and
# dashes too, so every line stays visible.
_STYLES = [(marker, dash) for dash in ("-", "--", ":") for marker in ("o", "s", "^", "D", "v", "P", "X", "*")]


def _save(figure: plt.Figure, path: str | Path) -> None:
    """Lay out, write the PNG whole or not at all, and free the figure."""
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)


def _compression_axis(axes, values: Sequence[float], target: float | None) -> None:
    """Log axis of compression ratios, ticked at 1-2-5 steps and at the target, as "15x"."""
    axes.set_xscale("log")
    low, high = min(values), max(values)
    ticks = sorted(
        {t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500) if low / 1.05 <= t <= high * 1.05}
        | ({target} if target else set())
    )
    axes.xaxis.set_major_locator(FixedLocator(ticks))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    if target:
        axes.axvline(target, color="black", linewidth=0.8, alpha=0.4)


def accuracy_vs_compression(
    frame: pd.DataFrame, methods: Sequence[str], title: str, path: str | Path, target: float | None = None
) -> None:
    """Top: mean top-1 per round against mean compression, a band of +- one std over seeds.
    Bottom: the drop from the dense network in points (symmetric log scale, linear below one
    point), where methods a fraction of a point apart, one band in the top panel, separate.
    Each method has its own marker and dash, so lines on top of each other stay visible."""
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.4, 6.4), dpi=150, sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    dense = frame[frame["round"] == 0]["top1"].mean() * 100
    compressions = [1.0]
    for index, method in enumerate(methods):
        rows = frame[frame["method"] == method]
        if rows.empty:
            continue
        by_round = rows.groupby("round").agg(
            compression=("compression_ratio", "mean"), top1=("top1", "mean"), spread=("top1", "std")
        )
        top1, spread = by_round["top1"] * 100, by_round["spread"].fillna(0.0) * 100
        marker, dash = _STYLES[index % len(_STYLES)]
        style = {"marker": marker, "linestyle": dash, "markersize": 4, "label": method}
        line = top.plot(by_round["compression"], top1, **style)
        top.fill_between(
            by_round["compression"], top1 - spread, top1 + spread, color=line[0].get_color(), alpha=0.15, linewidth=0
        )
        bottom.plot(by_round["compression"], dense - top1, color=line[0].get_color(), **style)
        compressions += list(by_round["compression"])
    top.axhline(dense, color="grey", linestyle="--", linewidth=1, label="dense")
    bottom.axhline(0, color="grey", linestyle="--", linewidth=1)
    bottom.set_yscale("symlog", linthresh=1.0)
    bottom.yaxis.set_major_locator(FixedLocator([-2, -1, -0.5, 0, 0.5, 1, 2, 5, 10, 20, 50, 100]))
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    bottom.yaxis.set_minor_formatter(NullFormatter())
    _compression_axis(bottom, compressions, target)
    if target:
        top.axvline(target, color="black", linewidth=0.8, alpha=0.4)
    bottom.set_xlabel("compression ratio (prunable weights / surviving weights)")
    top.set_ylabel("top-1 accuracy (%)")
    bottom.set_ylabel("drop from dense (points)")
    top.set_title(title)
    for axes in (top, bottom):
        axes.grid(True, which="major", alpha=0.3)
    top.legend(title="method", fontsize=8, ncol=2)
    _save(figure, path)


def layer_density(layers: pd.DataFrame, methods: Sequence[str], title: str, path: str | Path) -> None:
    """Density of every prunable layer in the rows given (the round at the target
    compression), one line per method (mean
    over seeds), layers in network order and named with their weight count: a collapsing
    layer shows as a drop to the floor. Methods are drawn side by side within each layer's
    slot, so methods with the same densities (uniform allocations) stay visible."""
    final = layers[layers["round"] == layers.groupby("method")["round"].transform("max")]
    order = list(dict.fromkeys(final["layer"]))
    weights = final.groupby("layer")["numel"].first()
    shown = [m for m in methods if not final[final["method"] == m].empty]
    figure, axes = plt.subplots(figsize=(max(6.4, 0.6 * len(order) + 3), 4.8), dpi=150)
    width = 0.6 / max(len(shown), 1)
    for index, method in enumerate(shown):
        density = final[final["method"] == method].groupby("layer")["density"].mean().reindex(order) * 100
        marker, dash = _STYLES[methods.index(method) % len(_STYLES)]
        offset = (index - (len(shown) - 1) / 2) * width
        axes.plot(
            [i + offset for i in range(len(order))],
            density.to_numpy(),
            marker=marker,
            linestyle=dash,
            markersize=5,
            label=method,
        )
    axes.set_yscale("log")
    axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}%"))
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set_xticks(range(len(order)))
    labels = [f"{name.removesuffix('.weight')}\n{weights[name]:,} w" for name in order]
    axes.set_xticklabels(
        labels, rotation=60 if len(order) > 8 else 0, ha="right" if len(order) > 8 else "center", fontsize=7
    )
    axes.set_xlabel("prunable layer, in network order (name and weight count; methods side by side)")
    axes.set_ylabel("surviving weights (%, log scale)")
    axes.set_title(title)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(title="method", fontsize=7, ncol=2)
    _save(figure, path)


def finetune_curves(
    steps: pd.DataFrame, dense_top1: float | None, methods: Sequence[str], title: str, path: str | Path
) -> None:
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
            rows["step"],
            rows["val_top1"] * 100,
            marker=marker,
            linestyle=dash,
            markersize=3 if len(rows) <= 60 else 0,
            linewidth=1.2,
            label=method,
        )
        if not ends:  # every method follows the same fine-tuning recipe: the first one's rounds
            ends = rows.groupby("round")["step"].max().sort_index().tolist()
    for end in ends[:-1]:
        axes.axvline(end + 0.5, color="grey", linestyle=":", linewidth=0.8)
    starts = [0, *ends[:-1]]
    for number, (begin, end) in enumerate(zip(starts, ends), start=1):
        axes.text(
            (begin + end + 1) / 2,
            1.01,
            f"round {number}",
            transform=axes.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
            color="grey",
        )
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
    _save(figure, path)
