"""The steps that turn metric, curve and export row files into the collected Parquet files, tables and figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from weightmom.evaluation.curves import CURVE_SCHEMA
from weightmom.evaluation.metrics import (
    EXPORT_SCHEMA,
    LAYER_SCHEMA,
    METRIC_SCHEMA,
    PREDICTION_SCHEMA,
    expand_dense,
    read_rows,
    write_table,
)
from weightmom.lineage import DENSE

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def collect(
    *,
    metric_rows: Sequence[str | Path],
    layer_rows: Sequence[str | Path],
    methods: Sequence[str],
    metrics_out: str | Path,
    layers_out: str | Path,
    summary_json: str | Path,
    summary_csv: str | Path,
    target_round: int,
    curve_rows: Sequence[str | Path] = (),
    curves_out: str | Path | None = None,
    curves_csv: str | Path | None = None,
) -> None:
    """Gather row files into results/<experiment>/metrics.parquet and layers.parquet, plus the
    JSON and CSV summaries DVC shows (the JSON at `target_round`, the round that reaches the
    target compression); with `curves_out` and `curves_csv`, the training jobs' curve files
    into curves.parquet (one row per epoch of every dense run and round, the dense run once,
    as method "dense" round 0) and its summary for DVC."""
    metrics = expand_dense(read_rows(metric_rows, METRIC_SCHEMA), methods)
    write_table(metrics, metrics_out)
    write_table(expand_dense(read_rows(layer_rows, LAYER_SCHEMA), methods), layers_out)
    write_summary(metrics, target_round, summary_json, summary_csv)
    if curves_out is not None:
        curves = read_rows(curve_rows, CURVE_SCHEMA).sort_values(
            ["dataset", "model", "method", "seed", "round", "epoch"]
        )
        write_table(curves.reset_index(drop=True), curves_out)
        write_curves_summary(curves, curves_csv)


def collect_exports(*, export_rows: Sequence[str | Path], out: str | Path) -> None:
    """Gather export rows into results/<experiment>/exports.parquet (the dense network's
    rows stay method `dense`, round 0: one per model and seed)."""
    frame = read_rows(export_rows, EXPORT_SCHEMA).sort_values(["dataset", "model", "method", "seed", "round"])
    write_table(frame.reset_index(drop=True), out)


def make_deployment_table(
    *,
    title: str,
    models: Sequence[str],
    methods: Sequence[str],
    export_rows: Sequence[str | Path],
    out_prefix: str | Path,
) -> None:
    """A table's deployment table: sizes on disk and CPU latency, dense and each method."""
    from weightmom.reporting.deployment import deployment_table, write_deployment_files

    rows = read_rows(export_rows, EXPORT_SCHEMA)
    cpus = sorted(set(rows["cpu"]))
    write_deployment_files(deployment_table(rows, models, methods), out_prefix, title, " / ".join(cpus) or "-")


def make_table(
    *,
    title: str,
    kind: str,
    metric_rows: Sequence[str | Path],
    models: Sequence[str],
    methods: Sequence[str],
    target_compression: float,
    tolerance: float,
    method_options: Mapping[str, Mapping[str, Any]],
    out_prefix: str | Path,
    prediction_rows: Sequence[str | Path] = (),
) -> None:
    """A paper table; an `ablation` table also shows each method's options as columns.
    `prediction_rows` (the test predictions at the target compression) give single-seed rows their
    paired bootstrap interval."""
    from weightmom.reporting.tables import summary_table, write_table_files

    frame = expand_dense(read_rows(metric_rows, METRIC_SCHEMA), methods)
    predictions = read_rows(prediction_rows, PREDICTION_SCHEMA) if prediction_rows else None
    options = method_options if kind == "ablation" else {}
    table = summary_table(frame, models, methods, tolerance, predictions, target_compression)
    collapsed = collapsed_rounds(frame, models, methods, target_compression)
    write_table_files(table, out_prefix, title, target_compression, tolerance, options, collapsed)


def collapsed_rounds(
    frame: pd.DataFrame, models: Sequence[str], methods: Sequence[str], target_compression: float
) -> pd.DataFrame:
    """The metric rows of a table's rounds (per model, method and seed, the one at the target
    compression) that left a layer with no weight: the table's note names them."""
    from weightmom.reporting.tables import at_target

    finals = at_target(frame, target_compression, ["model", "method", "seed"])
    shown = finals["model"].isin(models) & finals["method"].isin(methods)
    return finals[shown & (finals["collapsed_layers"] > 0)]


def make_claims(
    *,
    title: str,
    method: str,
    method_options: Mapping[str, Mapping[str, Any]],
    target_compression: float,
    tolerance: float,
    paper_datasets: Mapping[str, str | None],
    protocol: Mapping[str, Any],
    metric_rows: Sequence[str | Path],
    out_prefix: str | Path,
    prediction_rows: Sequence[str | Path] = (),
) -> None:
    """The paper's claims checked against an experiment's metric rows (weightmom.reporting.claims)."""
    from weightmom.reporting.claims import Protocol, check_claims
    from weightmom.reporting.claims_report import write_claims_files

    frame = expand_dense(read_rows(metric_rows, METRIC_SCHEMA), list(method_options))
    predictions = read_rows(prediction_rows, PREDICTION_SCHEMA) if prediction_rows else None
    run = Protocol.from_config(protocol["training"], protocol["pruning"], protocol["seeds"])
    claims = check_claims(
        frame, predictions, method_options, method, target_compression, tolerance, paper_datasets, run
    )
    write_claims_files(claims, out_prefix, title, target_compression, tolerance)


def make_paper_table(
    *,
    title: str,
    cells: Sequence[Sequence[str]],
    methods: Sequence[str],
    claimed: str,
    target_compression: float,
    tolerance: float,
    last_round: int,
    metric_rows: Sequence[str | Path],
    out_prefix: str | Path,
) -> None:
    """The experiment's paper-shaped table (weightmom.reporting.paper_table)."""
    from weightmom.reporting.paper_table import paper_table, write_paper_table

    frame = expand_dense(read_rows(metric_rows, METRIC_SCHEMA), methods)
    cells = [tuple(cell) for cell in cells]
    table = paper_table(frame, cells, methods, target_compression, tolerance, last_round)
    write_paper_table(table, cells, methods, claimed, out_prefix, title, target_compression, tolerance)


def make_figure(
    *,
    title: str,
    metric_rows: Sequence[str | Path],
    methods: Sequence[str],
    out: str | Path,
    target_compression: float | None = None,
) -> Figure:
    """Top-1 against compression (weightmom.reporting.plots.accuracy_vs_compression), written as `out`
    (PNG) and the same stem's .pdf and .svg; returns the Figure drawn."""
    from weightmom.reporting.plots import accuracy_vs_compression

    frame = expand_dense(read_rows(metric_rows, METRIC_SCHEMA), methods)
    return accuracy_vs_compression(frame, methods, title, out, target_compression)


def make_density_figure(
    *, title: str, layer_rows: Sequence[str | Path], methods: Sequence[str], out: str | Path
) -> Figure:
    """Every layer's density (weightmom.reporting.plots.layer_density), written as `out` (PNG) and the
    same stem's .pdf and .svg; returns the Figure drawn."""
    from weightmom.reporting.plots import layer_density

    return layer_density(read_rows(layer_rows, LAYER_SCHEMA), methods, title, out)


def make_curves_figure(
    *, title: str, curve_rows: Sequence[str | Path], methods: Sequence[str], out: str | Path
) -> Figure:
    """Validation top-1 over every fine-tuning epoch, rounds one after another, one line per
    method (mean over seeds); the dense runs' last validation top-1 (mean over seeds) as a
    reference (weightmom.reporting.plots.finetune_curves). Written as `out` (PNG) and the same stem's
    .pdf and .svg; returns the Figure drawn."""
    from weightmom.reporting.plots import finetune_curves

    curves = read_rows(curve_rows, CURVE_SCHEMA)
    dense = curves[curves["method"] == DENSE]
    last = dense[dense["epoch"] == dense.groupby("seed")["epoch"].transform("max")]
    reference = float(last["val_top1"].mean()) if not last.empty else None
    return finetune_curves(finetune_steps(curves), reference, methods, title, out)


def finetune_steps(curves: pd.DataFrame) -> pd.DataFrame:
    """The fine-tuning epochs (rounds >= 1) of `curves`, mean over seeds, each with `step`:
    its epoch counted over the method's rounds one after another (1..rounds x epochs)."""
    keys = ["dataset", "model", "method", "round", "epoch"]
    tuning = curves[(curves["method"] != DENSE) & (curves["round"] >= 1)]
    means = tuning.groupby(keys, as_index=False).agg(
        train_loss=("train_loss", "mean"),
        lr=("lr", "mean"),
        val_top1=("val_top1", "mean"),
        val_loss=("val_loss", "mean"),
        seconds=("seconds", "mean"),
        seeds=("seed", "nunique"),
    )
    means = means.sort_values(keys, ignore_index=True)
    means.insert(keys.index("epoch") + 1, "step", means.groupby(keys[:3]).cumcount() + 1)
    return means


def write_curves_summary(curves: pd.DataFrame, csv_out: str | Path) -> None:
    """What `dvc plots show` draws of the curves: every fine-tuning epoch of every method,
    mean over seeds, against `step` (the epoch over all rounds), with a `panel` column
    (dataset / model) like accuracy.csv. The dense runs are in curves.parquet, not here: their
    first epochs would squeeze the fine-tuning range of the y axis."""
    from weightmom.provenance.atomic import atomic_path

    steps = finetune_steps(curves)
    steps.insert(0, "panel", steps["dataset"] + " / " + steps["model"])
    with atomic_path(csv_out) as tmp:
        steps.to_csv(tmp, index=False)


def write_summary(metrics: pd.DataFrame, target_round: int, json_out: str | Path, csv_out: str | Path) -> None:
    """What DVC can read (it reads neither Parquet nor nested rows). The JSON (`dvc metrics
    show`) holds one number per dataset/model cell and method, named `<dataset>/<model>.<method>`
    in DVC's table: test top-1 in percent at `target_round` (the target compression), mean over
    seeds, and the dense network's as `dense`; the round and compression each came from are in
    the CSV and the tables, not repeated here, so that DVC's table stays readable. The CSV
    (`dvc plots show`) is top-1 against compression, mean over seeds, for every round, with a
    `panel` column (dataset / model) that the plot template draws one panel per."""
    import json

    from weightmom.provenance.atomic import atomic_path, atomic_write_text

    keys = ["dataset", "model", "method", "round"]
    curve = metrics.groupby(keys, as_index=False).agg(
        compression_ratio=("compression_ratio", "mean"), top1=("top1", "mean"), seeds=("seed", "nunique")
    )
    curve.insert(0, "panel", curve["dataset"] + " / " + curve["model"])  # the plot's facet
    summary: dict = {}
    for row in curve[curve["round"].isin([0, target_round])].itertuples():
        method = DENSE if row.round == 0 else row.method
        summary.setdefault(f"{row.dataset}/{row.model}", {})[method] = round(100 * float(row.top1), 2)
    atomic_write_text(json_out, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    with atomic_path(csv_out) as tmp:
        curve.to_csv(tmp, index=False)
