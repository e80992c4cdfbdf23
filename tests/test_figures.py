"""The figures, read back: written as PNG, PDF and SVG; every axis spans what it draws with
labelled ticks; methods that end close together are separated (zoom panel, side by side,
each its own colour, marker and dash); a layer at 0 % is a marker at a labelled floor."""

from __future__ import annotations

import itertools
import math
import random
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from weightmom.cli import main
from weightmom.evaluation.curves import write_curve
from weightmom.evaluation.metrics import LAYER_SCHEMA, METRIC_SCHEMA, write_rows
from weightmom.reporting import plots, reports

from helpers import metric_row

# The demo's digits CNN (results/demo, mean top-1 in % over two seeds, rounds 1-3 at 2.47x,
# 6.08x, 15x; dense 99.56): six methods end within a point of each other, weightmom and lamp
# on the very same values, global_magnitude on theirs but the last.
DEMO_TOP1 = {
    "weightmom": (99.44, 99.33, 99.22),
    "magnitude": (99.22, 98.22, 95.22),
    "global_magnitude": (99.44, 99.33, 99.11),
    "random": (98.78, 95.33, 88.22),
    "lottery": (99.00, 99.00, 99.00),
    "lr_rewind": (99.44, 99.33, 98.78),
    "gmp": (99.33, 96.11, 95.22),
    "lamp": (99.44, 99.33, 99.22),
    "snip": (99.56, 99.44, 99.33),
}
CLOSE = ["weightmom", "global_magnitude", "lottery", "lr_rewind", "lamp", "snip"]
DENSE = 99.56
COMPRESSIONS = (2.466, 6.082, 14.999)


def _metric_files(tmp_path, top1: dict[str, tuple[float, ...]], spread: float = 0.2) -> list:
    """Two seeds a `spread` apart around each mean (in points), the dense run at DENSE."""
    rows = [metric_row("cnn", "dense", seed, 0, DENSE / 100, 1.0) for seed in (0, 1)]
    for method, values in top1.items():
        for round_index, (value, compression) in enumerate(zip(values, COMPRESSIONS), start=1):
            for seed, sign in ((0, -1), (1, 1)):
                top = (value + sign * spread / 2) / 100
                rows.append(metric_row("cnn", method, seed, round_index, top, compression))
    path = tmp_path / "rows/metrics.parquet"
    write_rows(rows, METRIC_SCHEMA, path)
    return [path]


def _layer_files(tmp_path, densities: dict[str, dict[int, list[float]]]) -> list:
    """Layer rows of the final round: method -> seed -> density per layer (l0, l1, ...)."""
    rows = [
        {
            "dataset": "toy",
            "model": "net",
            "method": method,
            "seed": seed,
            "round": 2,
            "layer": f"l{i}.weight",
            "numel": 1000,
            "nonzero": round(1000 * d),
            "density": d,
            "flops_dense": 1e4,
            "flops_sparse": 1e4 * d,
        }
        for method, seeds in densities.items()
        for seed, layer_densities in seeds.items()
        for i, d in enumerate(layer_densities)
    ]
    path = tmp_path / "rows/layers.parquet"
    write_rows(rows, LAYER_SCHEMA, path)
    return [path]


def _curve_files(tmp_path, finals: dict[str, float]) -> list:
    """A dense run of 3 epochs and 3 rounds x 2 epochs per method: each round dips after pruning
    and recovers to the method's `finals` value (in %), the same for both seeds."""
    paths = []
    for seed in (0, 1):
        path = tmp_path / f"curves/seed{seed}/dense.parquet"
        records = [_record(e, t) for e, t in zip((1, 2, 3), (0.9, 0.97, 0.9888))]
        write_curve({"dataset": "toy", "model": "net", "method": "dense", "seed": seed, "round": 0}, records, path)
        paths.append(path)
        for method, final in finals.items():
            for round_index in (1, 2, 3):
                dip = (100 - final) * round_index
                records = [_record(1, (final - dip) / 100), _record(2, (final + 0.1 * (3 - round_index)) / 100)]
                identity = {"dataset": "toy", "model": "net", "method": method, "seed": seed, "round": round_index}
                path = tmp_path / f"curves/seed{seed}/{method}/round{round_index}.parquet"
                write_curve(identity, records, path)
                paths.append(path)
    return paths


def _record(epoch, top1):
    return {"epoch": epoch, "train_loss": 0.1, "lr": 0.01, "val_top1": top1, "val_loss": 0.1, "seconds": 1.0}


def _drawn(axes) -> tuple[list[float], list[float]]:
    """Every finite data point the axes draw: its lines and its filled bands."""
    xs, ys = [], []
    for line in axes.lines:
        x, y = (np.asarray(v, dtype=float) for v in line.get_data())
        if line.get_transform() != axes.transData or len(x) == 0:
            continue  # reference lines span the axes (axhline, axvline) in axes coordinates
        keep = np.isfinite(x) & np.isfinite(y)
        xs += list(x[keep])
        ys += list(y[keep])
    for collection in axes.collections:
        if isinstance(collection, PolyCollection):
            for path in collection.get_paths():
                xs += list(path.vertices[:, 0])
                ys += list(path.vertices[:, 1])
    return xs, ys


def _reference_lines(axes) -> list[float]:
    """The y of the horizontal reference lines (axhline: the dense top-1)."""
    return [
        float(line.get_ydata()[0])
        for line in axes.lines
        if line.get_transform() != axes.transData and list(line.get_xdata()) == [0, 1]
    ]


def _visible_ticks(axis, low, high) -> list[float]:
    return [t for t in axis.get_majorticklocs() if low - 1e-9 <= t <= high + 1e-9]


def _assert_y_covered(axes) -> None:
    """The y limits hold everything drawn, and labelled ticks span it: the lowest visible
    tick at or below the lowest value, the highest at or above the highest."""
    _, ys = _drawn(axes)
    ys += _reference_lines(axes)
    low, high = axes.get_ylim()
    assert low <= min(ys) and max(ys) <= high, (axes.get_title(), (low, high), (min(ys), max(ys)))
    ticks = _visible_ticks(axes.yaxis, low, high)
    assert ticks[0] <= min(ys) + 1e-9 and ticks[-1] >= max(ys) - 1e-9, (ticks, min(ys), max(ys))
    formatter = axes.yaxis.get_major_formatter()
    assert all(formatter(t, i).strip() for i, t in enumerate(ticks)), "every tick is labelled"


def _assert_x_within(axes) -> None:
    xs, _ = _drawn(axes)
    low, high = axes.get_xlim()
    assert low <= min(xs) and max(xs) <= high


def _styles(axes, labels) -> dict[str, tuple]:
    lines = {line.get_label(): line for line in axes.lines if line.get_label() in labels}
    return {label: (line.get_color(), line.get_marker(), line.get_linestyle()) for label, line in lines.items()}


# --- the three formats ---------------------------------------------------------------------


def _draw_all(tmp_path, stem="fig"):
    metric_files = _metric_files(tmp_path, DEMO_TOP1)
    layer_files = _layer_files(tmp_path, {"wm": {0: [0.5, 0.0, 0.02]}, "mag": {0: [0.1, 0.1, 0.1]}})
    curve_files = _curve_files(tmp_path, {"wm": 98.5, "mag": 97.0})
    out = tmp_path / "figures"
    reports.make_figure(title="t", metric_rows=metric_files, methods=list(DEMO_TOP1), out=out / f"{stem}_accuracy.png")
    reports.make_density_figure(
        title="t", layer_rows=layer_files, methods=["wm", "mag"], out=out / f"{stem}_density.png"
    )
    reports.make_curves_figure(title="t", curve_rows=curve_files, methods=["wm", "mag"], out=out / f"{stem}_curves.png")
    return out


def test_every_figure_is_written_as_png_pdf_and_svg(tmp_path):
    out = _draw_all(tmp_path)
    for kind in ("accuracy", "density", "curves"):
        assert (out / f"fig_{kind}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"fig_{kind}.pdf").read_bytes()[:5] == b"%PDF-"
        root = ElementTree.parse(out / f"fig_{kind}.svg").getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"fig_{kind}.{ext}" for kind in ("accuracy", "density", "curves") for ext in ("png", "pdf", "svg")
    )  # no temporaries left


def test_the_same_figure_gives_the_same_bytes(tmp_path):
    first, second = _draw_all(tmp_path / "a"), _draw_all(tmp_path / "b")
    for path in first.iterdir():
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name  # no date, no random ids


def test_the_figure_commands_write_three_files_and_want_a_png(tmp_path, capsys):
    metric_files = _metric_files(tmp_path, {"weightmom": DEMO_TOP1["weightmom"], "lamp": DEMO_TOP1["lamp"]})
    out = tmp_path / "fig/net_accuracy.png"
    arguments = ["figure", "--title", "t", "--methods", "weightmom", "lamp", "--target-compression", "15"]
    assert main([*arguments, "--metric-rows", *map(str, metric_files), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == [f"net_accuracy.{e}" for e in ("pdf", "png", "svg")]
    with pytest.raises(SystemExit) as refused:
        main([*arguments, "--metric-rows", *map(str, metric_files), "--out", str(tmp_path / "net.pdf")])
    assert refused.value.code == 2 and "expected a .png path" in capsys.readouterr().err


# --- accuracy against compression ------------------------------------------------------------


def test_methods_ending_within_a_point_get_a_zoom_where_each_is_apart(tmp_path):
    figure = reports.make_figure(
        title="digits / cnn",
        metric_rows=_metric_files(tmp_path, DEMO_TOP1),
        methods=list(DEMO_TOP1),
        out=tmp_path / "acc.png",
        target_compression=15,
    )
    overview, zoom = figure.axes
    assert [line.get_label() for line in zoom.lines if not line.get_label().startswith("_")] == CLOSE
    assert "not shown: magnitude, random, gmp" in zoom.get_title(loc="left")
    styles = _styles(zoom, CLOSE)
    assert len(set(styles.values())) == len(CLOSE)  # colour, marker and dash: each its own
    assert len({colour for colour, _, _ in styles.values()}) == len(CLOSE)
    assert len({marker for _, marker, _ in styles.values()}) == len(CLOSE)
    # weightmom and lamp have the same means: side by side, no point drawn on another
    points = [tuple(np.round(xy, 9)) for line in zoom.lines for xy in line.get_xydata() if line.get_label() in CLOSE]
    assert len(points) == len(set(points))
    wm, lamp = (next(line for line in zoom.lines if line.get_label() == m) for m in ("weightmom", "lamp"))
    assert list(wm.get_ydata()) == pytest.approx(list(lamp.get_ydata()))
    assert all(a < b for a, b in zip(wm.get_xdata(), lamp.get_xdata()))
    # the zoom is top-1 minus dense: the ends spread over most of its height
    low, high = zoom.get_ylim()
    assert (99.33 - 98.78) / (high - low) > 0.5
    for axes in (overview, zoom):
        _assert_y_covered(axes)
        _assert_x_within(axes)
    ticks = zoom.xaxis.get_majorticklocs()
    assert ticks[0] <= 1.0 and 15 in ticks and ticks[-1] >= 14.999 / 1.02  # 15x ticks 14.999x
    assert [zoom.xaxis.get_major_formatter()(t, 0) for t in ticks] == ["1x", "2x", "5x", "10x", "15x"]


def test_a_four_point_drop_in_the_ablation_figure_is_inside_the_frame_with_a_tick_below_it(tmp_path):
    # the ablation of the demo: wm_levelling ends 4.67 points below dense, the other two within a point
    top1 = {
        "weightmom": (99.44, 99.33, 99.22),
        "wm_global_scaled": (99.44, 99.56, 99.33),
        "wm_levelling": (99.22, 98.89, 94.89),
    }
    figure = reports.make_figure(
        title="ablation",
        metric_rows=_metric_files(tmp_path, top1, spread=4.4),
        methods=list(top1),
        out=tmp_path / "ablation.png",
        target_compression=15,
    )
    overview, zoom = figure.axes
    _assert_y_covered(overview)
    _assert_y_covered(zoom)
    assert _visible_ticks(overview.yaxis, *overview.get_ylim())[0] <= 94.89 - 2.2  # the band too
    assert [line.get_label() for line in zoom.lines if line.get_label() in top1] == ["weightmom", "wm_global_scaled"]
    assert "not shown: wm_levelling" in zoom.get_title(loc="left")
    assert max(_drawn(overview)[1]) <= 100  # a band is cut at 100 %, not ticked past it


def test_methods_far_apart_need_no_zoom(tmp_path):
    top1 = {"a": (99.0, 97.0, 93.0), "b": (98.0, 94.0, 88.0), "c": (97.0, 90.0, 80.0)}
    figure = reports.make_figure(
        title="t", metric_rows=_metric_files(tmp_path, top1), methods=list(top1), out=tmp_path / "f.png"
    )
    assert len(figure.axes) == 1
    _assert_y_covered(figure.axes[0])


# --- fine-tuning curves ----------------------------------------------------------------------

CURVE_FINALS = {
    "weightmom": 97.4,
    "magnitude": 94.6,
    "global_magnitude": 98.7,
    "random": 87.2,
    "lottery": 97.8,
    "lr_rewind": 98.7,  # the same curve as global_magnitude: hidden behind it before
    "gmp": 94.3,
    "lamp": 98.8,
    "snip": 98.3,
}


def test_curves_ending_within_a_point_are_apart_in_a_zoom(tmp_path):
    figure = reports.make_curves_figure(
        title="digits / cnn: fine-tuning curves",
        curve_rows=_curve_files(tmp_path, CURVE_FINALS),
        methods=list(CURVE_FINALS),
        out=tmp_path / "curves.png",
    )
    overview, zoom = figure.axes
    close = ["global_magnitude", "lottery", "lr_rewind", "lamp", "snip"]
    assert [line.get_label() for line in zoom.lines if line.get_label() in CURVE_FINALS] == close
    for axes in (overview, zoom):
        _assert_y_covered(axes)
        _assert_x_within(axes)
        gm, lr = (next(line for line in axes.lines if line.get_label() == m) for m in ("global_magnitude", "lr_rewind"))
        assert list(gm.get_ydata()) == pytest.approx(list(lr.get_ydata()))
        assert not set(gm.get_xdata()) & set(lr.get_xdata())  # side by side, both visible
        assert (gm.get_color(), gm.get_marker(), gm.get_linestyle()) != (
            lr.get_color(),
            lr.get_marker(),
            lr.get_linestyle(),
        )
    assert len(set(_styles(overview, list(CURVE_FINALS)).values())) == len(CURVE_FINALS)
    ticks = _visible_ticks(overview.xaxis, *overview.get_xlim())
    assert ticks[0] <= 1 and ticks[-1] >= 6  # epochs 1..6 ticked from first to last
    low, high = zoom.get_ylim()
    assert high - low < (overview.get_ylim()[1] - overview.get_ylim()[0]) / 2


# --- layer density ---------------------------------------------------------------------------


def test_a_layer_at_zero_is_a_marker_at_a_labelled_floor(tmp_path):
    densities = {
        "wm": {0: [0.5, 0.0, 0.02], 1: [0.4, 0.0, 0.03]},  # l1 empty in every seed
        "mag": {0: [0.1, 0.1, 0.0], 1: [0.1, 0.1, 0.2]},  # l2 empty in one seed
    }
    figure = reports.make_density_figure(
        title="toy", layer_rows=_layer_files(tmp_path, densities), methods=["wm", "mag"], out=tmp_path / "d.png"
    )
    (axes,) = figure.axes
    floor_markers = [line for line in axes.lines if line.get_gid() == "floor"]
    some_markers = [line for line in axes.lines if line.get_gid() == "floor-some"]
    assert len(floor_markers) == 1 and len(some_markers) == 1
    floor = float(floor_markers[0].get_ydata()[0])
    ticks = list(axes.yaxis.get_majorticklocs())
    labels = {axes.yaxis.get_major_formatter()(t, 0) for t in ticks if math.isclose(t, floor)}
    assert labels == {"0%"}
    positive_ticks = [t for t in ticks if t > floor]
    assert floor < min(positive_ticks) <= 2.0  # below 2.5 %, the lowest density drawn (a mean)
    low, high = axes.get_ylim()
    assert low < floor < high
    wm = next(line for line in axes.lines if line.get_label() == "wm")
    assert wm.get_ydata()[1] == pytest.approx(floor)  # the line drops to the floor, not off the axis
    assert floor_markers[0].get_color() == wm.get_color() and floor_markers[0].get_marker() == wm.get_marker()
    legend = " ".join(text.get_text() for text in figure.legends[0].get_texts())
    assert "0% floor" in legend and "no weight left" in legend and "some seeds" in legend
    _assert_y_covered(axes)


def test_without_an_empty_layer_there_is_no_floor(tmp_path):
    figure = reports.make_density_figure(
        title="toy",
        layer_rows=_layer_files(tmp_path, {"wm": {0: [0.86, 0.019, 0.4]}, "mag": {0: [0.066] * 3}}),
        methods=["wm", "mag"],
        out=tmp_path / "d.png",
    )
    (axes,) = figure.axes
    assert not [line for line in axes.lines if line.get_gid() in ("floor", "floor-some")]
    ticks = _visible_ticks(axes.yaxis, *axes.get_ylim())
    assert "0%" not in {axes.yaxis.get_major_formatter()(t, 0) for t in ticks}
    assert ticks[0] == pytest.approx(1.0) and ticks[-1] == pytest.approx(100.0)  # 1.9 % .. 86 %
    _assert_y_covered(axes)
    wm, mag = (next(line for line in axes.lines if line.get_label() == m) for m in ("wm", "mag"))
    assert all(a < b for a, b in zip(wm.get_xdata(), mag.get_xdata()))  # side by side in each slot


# --- the helpers -----------------------------------------------------------------------------


def test_covering_ticks_span_any_range_in_round_steps():
    rng = random.Random(0)
    cases = [(-4.67, 0.0), (88.22, 99.56), (-0.78, 0.0), (0.3, 0.3), (94.89, 100.0)]
    cases += [sorted((rng.uniform(-100, 100), rng.uniform(-100, 100))) for _ in range(200)]
    cases += [(base, base + rng.uniform(0.001, 2)) for base in (rng.uniform(0, 100) for _ in range(200))]
    for low, high in cases:
        ticks = plots.covering_ticks(low, high)
        assert ticks[0] <= low and ticks[-1] >= high, (low, high, ticks)
        steps = np.diff(ticks)
        assert 2 <= len(ticks) <= 9 and np.allclose(steps, steps[0]), (low, high, ticks)
        mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]) + 1e-9)
        assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5)), steps[0]
    assert plots.covering_ticks(-4.67, 0.0)[0] <= -5  # the ablation's drop: ticked below it


def test_close_methods_are_the_highest_ending_group():
    finals = {m: v[-1] for m, v in DEMO_TOP1.items()}
    assert plots.close_methods(finals) == CLOSE
    assert plots.close_methods({"a": 70.3, "b": 67.6, "c": 67.2, "d": 61.6}) == ["b", "c"]  # the best alone
    assert plots.close_methods({"a": 90.0, "b": 80.0}) == []
    assert plots.close_methods({"a": 90.0}) == []
    assert plots.close_window({"a": 90.0, "b": 60.0}) == pytest.approx(3.0)  # a tenth of a wide spread
    assert plots.magnifies([99.0, 99.5], [88.0, 99.5]) and not plots.magnifies([90.0, 99.0], [88.0, 99.5])


def test_the_first_methods_have_their_own_colour_marker_and_dash():
    styles = [plots.method_style(i) for i in range(100)]
    assert len({(s["color"], s["marker"]) for s in styles}) == 100
    assert len({s["marker"] for s in styles[:10]}) == 10 and len({s["color"] for s in styles[:10]}) == 10
    assert all(a["linestyle"] != b["linestyle"] for a, b in itertools.pairwise(styles))


def test_figure_paths_are_the_png_and_its_siblings(tmp_path):
    assert [p.name for p in plots.figure_paths(tmp_path / "x/net_accuracy.png")] == [
        "net_accuracy.png",
        "net_accuracy.pdf",
        "net_accuracy.svg",
    ]
