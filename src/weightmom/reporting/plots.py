"""Figures: top-1 against compression, layer densities and fine-tuning curves, one line per method.

Every figure is written three times: `<stem>.png` (screen, the Snakemake report), `<stem>.pdf`
and `<stem>.svg` (print, vector). Each plot function returns its (closed) Figure, so that
tests can read back what was drawn.

Reading aids shared by the figures:
- every method has its own colour, marker and dash (`method_style`: no two of the first 10
  methods share a colour or a marker, no two consecutive ones a dash);
- where methods may sit on the same values, they are drawn side by side (density: within a
  layer's slot; curves: within an epoch's slot; the accuracy zoom: around a round's
  compression), so identical values stay visible;
- the accuracy and curve figures add a zoom panel on the highest-ending group of methods
  that end close together (`close_methods`: within max(1 point, a tenth of the spread of the
  final values) of each other), when the zoom shows them at least twice as large as the
  overview (`magnifies`): methods a fraction of a point apart, one line in the overview,
  separate there; the methods it leaves out are named in its title;
- every axis spans its data with labelled ticks: the lowest tick is at or below the lowest
  value plotted and the highest at or above the highest (`covering_ticks`; the compression
  axis allows 2 %, so that 14.99x is ticked by 15x), the limits a small margin past them;
- a layer with no weight left (0 %, off the density figure's log axis) is drawn at a floor
  labelled "0%" below the lowest tick, named in the legend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter, NullLocator  # noqa: E402

from weightmom.provenance.atomic import atomic_path  # noqa: E402

#: the formats every figure is written in, the first one to the path given
FORMATS = ("png", "pdf", "svg")

# tab10 without its grey (the reference lines are grey), black in its place
_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#000000",
    "#bcbd22",
    "#17becf",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<")
_DASHES = ("-", "--", "-.", ":")
_REFERENCE = "#7f7f7f"  # the dense line, the target and round guides

#: a method "ends close" to the best when its final value is within this many points of it,
#: or within this share of the spread of all final values, whichever is wider
CLOSE_POINTS = 1.0
CLOSE_SHARE = 0.1
#: ... and the zoom panel is drawn when it magnifies them at least this much
ZOOM_FACTOR = 2.0


def method_style(index: int) -> dict[str, str]:
    """Colour, marker and dash of the method at `index` in the figure's method list: no two
    of the first 10 methods share a colour or a marker, no two consecutive ones a dash, and
    the (colour, marker) pair repeats only after 100 methods."""
    return {
        "color": _COLORS[index % len(_COLORS)],
        "marker": _MARKERS[(index + index // len(_COLORS)) % len(_MARKERS)],
        "linestyle": _DASHES[index % len(_DASHES)],
    }


def figure_paths(path: str | Path) -> list[Path]:
    """The files a figure is written to: `path` (the PNG) and the same stem's .pdf and .svg."""
    path = Path(path)
    return [path, *(path.with_suffix(f".{fmt}") for fmt in FORMATS[1:])]


def _save(figure: plt.Figure, path: str | Path) -> plt.Figure:
    """Write the figure as PNG (to `path`), PDF and SVG (beside it), each whole or not at
    all, and free it. PDF and SVG carry no date and stable ids: the same figure, the same
    bytes. Fonts are embedded as TrueType in the PDF (editable text for print)."""
    if figure.get_layout_engine() is None:
        figure.tight_layout()
    metadata = {"png": {}, "pdf": {"CreationDate": None}, "svg": {"Date": None}}
    with plt.rc_context({"pdf.fonttype": 42, "svg.hashsalt": "weightmom"}):
        for fmt, target in zip(FORMATS, figure_paths(path)):
            with atomic_path(target) as tmp:
                figure.savefig(tmp, format=fmt, metadata=metadata[fmt])
    plt.close(figure)
    return figure


def covering_ticks(low: float, high: float, bins: int = 6) -> list[float]:
    """Round ticks (steps of 1, 2, 2.5 or 5 times a power of ten) from at or below `low` to
    at or above `high`."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"cannot tick the range {low}..{high}")
    if high - low < 1e-9:
        pad = max(abs(high) * 0.01, 0.5)
        low, high = low - pad, high + pad
    ticks = list(MaxNLocator(nbins=bins, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high))
    step = ticks[1] - ticks[0]
    while ticks[0] > low + step * 1e-9:
        ticks.insert(0, ticks[0] - step)
    while ticks[-1] < high - step * 1e-9:
        ticks.append(ticks[-1] + step)
    decimals = max(0, 2 - math.floor(math.log10(step)))
    ticks = [round(t, decimals) for t in ticks]  # 0.3, not 0.30000000000000004
    while len(ticks) > 2 and ticks[1] <= low + step * 1e-9:
        ticks.pop(0)
    while len(ticks) > 2 and ticks[-2] >= high - step * 1e-9:
        ticks.pop()
    return ticks


def _cover_linear(axes, values: Sequence[float], bins: int = 6, formatter: str = "{:g}") -> list[float]:
    """Set the y axis to labelled ticks covering `values`, with a small margin past the end
    ticks so that a marker on one is not cut by the frame."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return []
    ticks = covering_ticks(min(finite), max(finite), bins)
    margin = 0.03 * (ticks[-1] - ticks[0])
    axes.yaxis.set_major_locator(FixedLocator(ticks))
    axes.yaxis.set_major_formatter(
        FuncFormatter(lambda value, _: "0" if abs(value) < 1e-9 else formatter.format(round(value, 6)))
    )
    axes.set_ylim(ticks[0] - margin, ticks[-1] + margin)
    return ticks


def close_methods(finals: Mapping[str, float]) -> list[str]:
    """The highest-ending group of methods that end close together: going down from the best
    final value, the first method with another one ending at most `close_window` below it,
    and every method ending within that window below it (in the order given); none when no
    two methods end that close. These are the ones a zoom panel separates."""
    if len(finals) < 2:
        return []
    window = close_window(finals)
    for head in sorted(finals, key=lambda method: -finals[method]):
        top = finals[head]
        group = [method for method, value in finals.items() if top - window <= value <= top]
        if len(group) >= 2:
            return group
    return []


def magnifies(zoomed: Sequence[float], overview: Sequence[float], factor: float = ZOOM_FACTOR) -> bool:
    """Whether a zoom on the values `zoomed` shows them at least `factor` times larger than
    the overview of all values does (worth a panel of its own)."""
    if len(zoomed) < 2:
        return False
    return factor * (max(zoomed) - min(zoomed)) <= max(overview) - min(overview)


def close_window(finals: Mapping[str, float]) -> float:
    """How close "close" is: CLOSE_POINTS, or CLOSE_SHARE of the spread of the final values
    where that is wider (a zoom on a fraction of the overview's range)."""
    return max(CLOSE_POINTS, CLOSE_SHARE * (max(finals.values()) - min(finals.values())))


def _points(value: float) -> str:
    return "1 point" if f"{value:.2g}" == "1" else f"{value:.2g} points"


def _zoom_title(zoom, finals: Mapping[str, float], close: Sequence[str]) -> None:
    """The zoom panel's title: how close its methods end (`finals`: each method's last value),
    and the methods it leaves out."""
    note = (
        f"zoom: the highest-ending methods that end within {_points(close_window(finals))} of each other,"
        " side by side (mean over seeds)"
    )
    others = [method for method in finals if method not in close]
    if others:
        note += f"\nnot shown: {', '.join(others)}"
    zoom.set_title(note, fontsize=8, loc="left")


def _compression_ticks(low: float, high: float, target: float | None) -> list[float]:
    """Compression ticks at 1-2-5 steps (and the target) from at or below `low` to at or
    above `high` (2 % slack: 14.99x is ticked by 15x); a 1-2-5 tick within a factor 1.4 of the
    target is left out inside the range (their labels would run into each other)."""
    series = {m * 10**k for k in range(-1, 5) for m in (1, 2, 5)}
    candidates = sorted(series | ({float(target)} if target else set()))
    start = max([t for t in candidates if t <= low * 1.02], default=candidates[0])
    stop = min([t for t in candidates if t >= high / 1.02], default=candidates[-1])
    ticks = [t for t in candidates if start <= t <= stop]
    if target:
        crowded = {t for t in ticks[1:-1] if t != target and max(t, target) / min(t, target) < 1.4}
        ticks = [t for t in ticks if t not in crowded]
    return ticks


def _compression_axis(axes, values: Sequence[float], target: float | None, dodged: Sequence[float] = ()) -> list[float]:
    """Log axis of compression ratios, ticked at 1-2-5 steps and at the target, as "15x",
    the ticks covering `values` (and the target), the limits those and `dodged` (points drawn
    side by side around a value, not values of their own)."""
    axes.set_xscale("log")
    values = [v for v in values if v > 0]
    low, high = min(values), max(values)
    if target:
        low, high = min(low, target), max(high, target)
    ticks = _compression_ticks(low, high, target)
    axes.xaxis.set_major_locator(FixedLocator(ticks))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    axes.xaxis.set_minor_locator(NullLocator())
    axes.xaxis.set_minor_formatter(NullFormatter())
    every = [*ticks, low, high, *dodged]
    axes.set_xlim(min(every) / 1.08, max(every) * 1.08)
    return ticks


def _by_round(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean compression, mean and std (0 for one seed) top-1 in percent, per round."""
    by_round = rows.groupby("round").agg(
        compression=("compression_ratio", "mean"), top1=("top1", "mean"), spread=("top1", "std")
    )
    by_round["top1"] *= 100
    by_round["spread"] = by_round["spread"].fillna(0.0) * 100
    return by_round


def _legend(figure: plt.Figure, handles: list, title: str = "method") -> None:
    figure.legend(handles=handles, loc="outside right upper", title=title, fontsize=8, title_fontsize=9, frameon=False)


def accuracy_vs_compression(
    frame: pd.DataFrame, methods: Sequence[str], title: str, path: str | Path, target: float | None = None
) -> plt.Figure:
    """Top: mean top-1 per round against mean compression (log axis, the target marked and
    ticked), a band of +- one std over seeds, every method, the dense network's top-1 dashed.
    Below, when the highest-ending methods end close together (`close_methods` on the last
    round's top-1) and a zoom on them `magnifies` them: their top-1 minus the dense network's
    in points (mean over seeds), side by side around each round's compression, so methods a
    fraction of a point apart (one line above) separate; the methods left out are named in
    its title. Returns the (closed) Figure: its first axes the overview, the second the zoom."""
    dense = float(frame[frame["round"] == 0]["top1"].mean() * 100)
    series = {m: _by_round(frame[frame["method"] == m]) for m in methods if not frame[frame["method"] == m].empty}
    close = close_methods({m: float(s["top1"].iloc[-1]) for m, s in series.items()})
    overview = [dense, *(v for s in series.values() for v in s["top1"])]
    if not math.isfinite(dense) or not magnifies([dense, *(v for m in close for v in series[m]["top1"])], overview):
        close = []
    rows = 2 if close else 1
    figure, axes = plt.subplots(
        rows,
        1,
        figsize=(8.6, 7.4 if close else 4.8),
        dpi=150,
        sharex=True,
        squeeze=False,
        layout="constrained",
        gridspec_kw={"height_ratios": [3, 2.4] if close else [1]},
    )
    top = axes[0, 0]
    handles, top_values, compressions = [], [dense], [1.0]
    for method, by_round in series.items():
        style = method_style(list(methods).index(method))
        x, y = by_round["compression"], by_round["top1"]
        low, high = (y - by_round["spread"]).clip(0, 100), (y + by_round["spread"]).clip(0, 100)
        top.fill_between(x, low, high, color=style["color"], alpha=0.12, linewidth=0)
        (line,) = top.plot(x, y, markersize=4.5, linewidth=1.4, label=method, **style)
        handles.append(line)
        top_values += [*y, *low, *high]
        compressions += list(x)
    top.axhline(dense, color=_REFERENCE, linestyle=(0, (4, 3)), linewidth=1)
    handles.append(Line2D([], [], color=_REFERENCE, linestyle=(0, (4, 3)), linewidth=1, label=f"dense ({dense:.2f}%)"))
    if any((s["spread"] > 0).any() for s in series.values()):
        handles.append(Patch(color=_REFERENCE, alpha=0.25, linewidth=0, label="±1 std over seeds"))
    _cover_linear(top, top_values)
    top.set_ylabel("top-1 accuracy (%)")
    top.set_title(title)
    panels = [top]
    if close:
        zoom = axes[1, 0]
        panels.append(zoom)
        zoom_values, dodged = [0.0], []
        span = math.log10(max(compressions) / min(compressions)) or 1.0
        step = 0.08 * span / len(close)  # the group spans 8 % of the axis
        for slot, method in enumerate(close):
            by_round = series[method]
            style = method_style(list(methods).index(method))
            x = by_round["compression"] * 10 ** ((slot - (len(close) - 1) / 2) * step)
            y = by_round["top1"] - dense
            zoom.plot(x, y, markersize=5, linewidth=1.3, label=method, **style)
            zoom_values += list(y)
            dodged += list(x)
        zoom.axhline(0, color=_REFERENCE, linestyle=(0, (4, 3)), linewidth=1)
        _cover_linear(zoom, zoom_values, bins=6, formatter="{:+g}")
        _zoom_title(zoom, {m: float(s["top1"].iloc[-1]) for m, s in series.items()}, close)
        zoom.set_ylabel("top-1 minus dense (points)")
    _compression_axis(panels[-1], compressions, target, dodged if close else ())
    for axes_ in panels:
        if target:
            axes_.axvline(target, color="black", linewidth=0.8, alpha=0.35)
        axes_.grid(True, which="major", alpha=0.3)
    if target:
        handles.append(Line2D([], [], color="black", alpha=0.35, linewidth=0.8, label=f"target ({target:g}x)"))
    panels[-1].set_xlabel("compression ratio (prunable weights / surviving weights)")
    _legend(figure, handles)
    return _save(figure, path)


def _density_ticks(low: float, high: float) -> list[float]:
    """1-2-5 ticks in percent from at or below `low` to at or above `high` (only powers of
    ten past four decades)."""
    series = sorted(m * 10.0**k for k in range(-6, 3) for m in (1, 2, 5))
    start = max([t for t in series if t <= low * 1.0001], default=series[0])
    stop = min([t for t in series if t >= high / 1.0001], default=series[-1])
    ticks = [t for t in series if start <= t <= stop]
    if stop / start > 1e4:
        ticks = sorted({t for t in ticks if math.log10(t).is_integer()} | {start, stop})
    return ticks


def layer_density(layers: pd.DataFrame, methods: Sequence[str], title: str, path: str | Path) -> plt.Figure:
    """Density of every prunable layer in the rows given (the round at the target
    compression), one line per method (mean over seeds), layers in network order and named
    with their weight count, on a log axis. Methods are drawn side by side within each
    layer's slot, so methods with the same densities (uniform allocations) stay visible.
    A layer left with no weight (0 %, off any log axis) is drawn at a floor below the lowest
    tick, labelled "0%", with a shaded band and a legend entry: a filled marker where every
    seed left it empty (the line drops to the floor), a hollow one where only some did (the
    line is the mean over seeds)."""
    final = layers[layers["round"] == layers.groupby("method")["round"].transform("max")]
    order = list(dict.fromkeys(final["layer"]))
    weights = final.groupby("layer")["numel"].first()
    shown = [m for m in methods if not final[final["method"] == m].empty]
    means, empty_seeds = {}, {}
    for method in shown:
        rows = final[final["method"] == method]
        means[method] = rows.groupby("layer")["density"].mean().reindex(order) * 100
        empty_seeds[method] = (rows["density"] == 0).groupby(rows["layer"]).agg(["any", "all"]).reindex(order)
    every = pd.concat(list(means.values())) if means else pd.Series([100.0])
    positive = every[every > 0]
    some_empty = any(bool(e["any"].fillna(False).any()) for e in empty_seeds.values())
    low = float(positive.min()) if not positive.empty else 1.0
    ticks = _density_ticks(low, max(float(positive.max()) if not positive.empty else low, low))
    floor = ticks[0] / 3 if some_empty else None
    figure, axes = plt.subplots(figsize=(max(7.6, 0.6 * len(order) + 4.4), 4.8), dpi=150, layout="constrained")
    width = 0.6 / max(len(shown), 1)
    handles = []
    for index, method in enumerate(shown):
        style = method_style(list(methods).index(method))
        offset = (index - (len(shown) - 1) / 2) * width
        x = np.arange(len(order)) + offset
        density = means[method].to_numpy(dtype=float)
        drawn = np.where(density > 0, density, floor if floor is not None else np.nan)
        (line,) = axes.plot(x, drawn, markersize=5, linewidth=1.3, label=method, **style)
        handles.append(line)
        everywhere = empty_seeds[method]["all"].fillna(False).to_numpy(dtype=bool)
        somewhere = empty_seeds[method]["any"].fillna(False).to_numpy(dtype=bool) & ~everywhere
        if everywhere.any():
            axes.plot(
                x[everywhere],
                [floor] * int(everywhere.sum()),
                linestyle="none",
                color=style["color"],
                marker=style["marker"],
                markersize=8,
                markerfacecolor=style["color"],
                markeredgecolor="black",
                markeredgewidth=1.0,
                gid="floor",
                zorder=4,
            )
        if somewhere.any():
            axes.plot(
                x[somewhere],
                [floor] * int(somewhere.sum()),
                linestyle="none",
                color=style["color"],
                marker=style["marker"],
                markersize=8,
                markerfacecolor="none",
                markeredgecolor=style["color"],
                markeredgewidth=1.2,
                gid="floor-some",
                zorder=4,
            )
    axes.set_yscale("log")
    shown_ticks = ([floor] if floor is not None else []) + ticks
    axes.yaxis.set_major_locator(FixedLocator(shown_ticks))
    axes.yaxis.set_major_formatter(
        FuncFormatter(lambda value, _: "0%" if floor is not None and math.isclose(value, floor) else f"{value:g}%")
    )
    axes.yaxis.set_minor_locator(NullLocator())
    axes.set_ylim(shown_ticks[0] / (1.8 if floor is not None else 1.35), ticks[-1] * 1.35)
    if floor is not None:
        boundary = math.sqrt(floor * ticks[0])
        axes.axhspan(shown_ticks[0] / 1.8, boundary, color=_REFERENCE, alpha=0.12, linewidth=0)
        axes.axhline(boundary, color=_REFERENCE, linewidth=0.8, linestyle=(0, (2, 2)))
    if any(bool(e["all"].fillna(False).any()) for e in empty_seeds.values()):
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markersize=7,
                markerfacecolor=_REFERENCE,
                markeredgecolor="black",
                label="at the 0% floor: layer with\nno weight left (all seeds)",
            )
        )
    if any(bool((e["any"] & ~e["all"]).fillna(False).any()) for e in empty_seeds.values()):
        handles.append(
            Line2D(
                [],
                [],
                linestyle="none",
                marker="o",
                markersize=7,
                markerfacecolor="none",
                markeredgecolor=_REFERENCE,
                label="hollow at the 0% floor: no\nweight left in some seeds",
            )
        )
    axes.set_xticks(range(len(order)))
    axes.set_xlim(-0.5, len(order) - 0.5)
    labels = [f"{name.removesuffix('.weight')}\n{weights[name]:,} w" for name in order]
    axes.set_xticklabels(
        labels, rotation=60 if len(order) > 8 else 0, ha="right" if len(order) > 8 else "center", fontsize=7
    )
    axes.set_xlabel("prunable layer, in network order (name and weight count; methods side by side)")
    axes.set_ylabel("surviving weights (%, log scale)")
    axes.set_title(title)
    axes.grid(True, which="major", alpha=0.3)
    _legend(figure, handles)
    return _save(figure, path)


def finetune_curves(
    steps: pd.DataFrame, dense_top1: float | None, methods: Sequence[str], title: str, path: str | Path
) -> plt.Figure:
    """Validation top-1 after every fine-tuning epoch against that epoch counted over the
    rounds one after another (weightmom.reporting.reports.finetune_steps: mean over seeds), one line
    per method, methods side by side within each epoch's slot; dotted guides where a round
    ends (the next one prunes), the dense model's last validation top-1 as a dashed
    reference. Below, when the highest-ending methods end close together (`close_methods` on
    the last epoch) and a zoom on them `magnifies` them, their curves again, on their own
    range, so curves a fraction of a point apart separate; the methods left out are named in
    its title. Returns the (closed) Figure: its first axes the overview, the second the zoom."""
    series = {}
    for method in methods:
        rows = steps[steps["method"] == method].sort_values("step")
        if not rows.empty:
            series[method] = rows
    close = close_methods({m: float(r["val_top1"].iloc[-1] * 100) for m, r in series.items()})
    reference = [dense_top1 * 100] if dense_top1 is not None else []
    overview = [*reference, *(v * 100 for r in series.values() for v in r["val_top1"])]
    if not magnifies([*reference, *(v * 100 for m in close for v in series[m]["val_top1"])], overview):
        close = []
    figure, axes = plt.subplots(
        2 if close else 1,
        1,
        figsize=(8.8, 7.4 if close else 4.6),
        dpi=150,
        sharex=True,
        squeeze=False,
        layout="constrained",
        gridspec_kw={"height_ratios": [3, 2.4] if close else [1]},
    )
    panels = [axes[0, 0]] + ([axes[1, 0]] if close else [])
    first = next(iter(series.values()), None)
    # every method follows the same fine-tuning recipe: the first one's rounds
    ends = first.groupby("round")["step"].max().sort_index().tolist() if first is not None else []
    handles = []
    for axes_, drawn in zip(panels, [list(series), close]):
        values = [dense_top1 * 100] if dense_top1 is not None else []
        width = 0.6 / max(len(drawn), 1)
        for slot, method in enumerate(drawn):
            rows = series[method]
            style = method_style(list(methods).index(method))
            x = rows["step"] + (slot - (len(drawn) - 1) / 2) * width
            y = rows["val_top1"] * 100
            (line,) = axes_.plot(x, y, markersize=3.5 if len(rows) <= 60 else 0, linewidth=1.2, label=method, **style)
            if axes_ is panels[0]:
                handles.append(line)
            values += list(y)
        if dense_top1 is not None:
            axes_.axhline(dense_top1 * 100, color=_REFERENCE, linestyle=(0, (4, 3)), linewidth=1)
        for end in ends[:-1]:
            axes_.axvline(end + 0.5, color=_REFERENCE, linestyle=":", linewidth=0.8)
        if values:
            _cover_linear(axes_, values)
        axes_.grid(True, alpha=0.3)
    top = panels[0]
    starts = [0, *ends[:-1]]
    for number, (begin, end) in enumerate(zip(starts, ends), start=1):
        top.text(
            (begin + end + 1) / 2,
            1.01,
            f"round {number}",
            transform=top.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
            color="grey",
        )
    if dense_top1 is not None:
        handles.append(
            Line2D(
                [],
                [],
                color=_REFERENCE,
                linestyle=(0, (4, 3)),
                linewidth=1,
                label=f"dense, last epoch ({dense_top1 * 100:.2f}%)",
            )
        )
    if ends:
        stride = math.ceil(ends[-1] / 15)  # every epoch up to 15, then every 2nd, 3rd...: from 1 to past the last
        epochs = list(range(1, ends[-1] + stride, stride))
        top.xaxis.set_major_locator(FixedLocator(epochs))
        top.set_xlim(0.5, epochs[-1] + 0.5)
    top.set_ylabel("validation top-1 (%)")
    top.set_title(title, pad=14)
    if close:
        zoom = panels[1]
        _zoom_title(zoom, {m: float(r["val_top1"].iloc[-1] * 100) for m, r in series.items()}, close)
        zoom.set_ylabel("validation top-1 (%)")
    panels[-1].set_xlabel("fine-tuning epoch (rounds one after another; methods side by side)")
    _legend(figure, handles)
    return _save(figure, path)
