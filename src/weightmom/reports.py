"""The steps that turn metric and export row files into the collected Parquet files, tables and figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from weightmom.metrics import EXPORT_SCHEMA, LAYER_SCHEMA, METRIC_SCHEMA, expand_dense, read_rows, write_table

if TYPE_CHECKING:
    import pandas as pd


def collect(
    *,
    metric_rows: Sequence[str | Path],
    layer_rows: Sequence[str | Path],
    methods: Sequence[str],
    metrics_out: str | Path,
    layers_out: str | Path,
    summary_json: str | Path,
    summary_csv: str | Path,
) -> None:
    """Gather row files into results/<experiment>/metrics.parquet and layers.parquet, plus the
    JSON and CSV summaries DVC shows."""
    metrics = expand_dense(read_rows(metric_rows, METRIC_SCHEMA), methods)
    write_table(metrics, metrics_out)
    write_table(expand_dense(read_rows(layer_rows, LAYER_SCHEMA), methods), layers_out)
    write_summary(metrics, summary_json, summary_csv)


def collect_exports(*, export_rows: Sequence[str | Path], out: str | Path) -> None:
    """Gather export rows into results/<experiment>/exports.parquet (the dense network's
    rows stay method `dense`, round 0: one per model and seed)."""
    frame = read_rows(export_rows, EXPORT_SCHEMA).sort_values(["dataset", "model", "method", "seed", "round"])
    write_table(frame.reset_index(drop=True), out)


def make_deployment_table(
    *, title: str, models: Sequence[str], methods: Sequence[str], export_rows: Sequence[str | Path], out_prefix: str | Path
) -> None:
    """A table's deployment table: sizes on disk and CPU latency, dense and each method."""
    from weightmom.deployment import deployment_table, write_deployment_files

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
) -> None:
    """A paper table; an `ablation` table also shows each method's options as columns."""
    from weightmom.tables import summary_table, write_table_files

    frame = expand_dense(read_rows(metric_rows, METRIC_SCHEMA), methods)
    options = method_options if kind == "ablation" else {}
    write_table_files(summary_table(frame, models, methods, tolerance), out_prefix, title, target_compression, tolerance, options)


def make_figure(*, title: str, metric_rows: Sequence[str | Path], methods: Sequence[str], out: str | Path) -> None:
    from weightmom.plots import accuracy_vs_compression

    frame = expand_dense(read_rows(metric_rows, METRIC_SCHEMA), methods)
    accuracy_vs_compression(frame, methods, title, out)


def make_density_figure(*, title: str, layer_rows: Sequence[str | Path], methods: Sequence[str], out: str | Path) -> None:
    from weightmom.plots import layer_density

    layer_density(read_rows(layer_rows, LAYER_SCHEMA), methods, title, out)


def write_summary(metrics: "pd.DataFrame", json_out: str | Path, csv_out: str | Path) -> None:
    """What DVC can read (it reads neither Parquet nor nested rows): a JSON of the final
    round per dataset/model/method (`dvc metrics show`) and a CSV of top-1 against
    compression, mean over seeds, for every round, with a `panel` column (dataset / model)
    that the plot template draws one panel per (`dvc plots show`)."""
    import json

    from weightmom.atomic import atomic_path, atomic_write_text

    keys = ["dataset", "model", "method", "round"]
    curve = metrics.groupby(keys, as_index=False).agg(
        compression_ratio=("compression_ratio", "mean"), top1=("top1", "mean"), seeds=("seed", "nunique")
    )
    curve.insert(0, "panel", curve["dataset"] + " / " + curve["model"])  # the plot's facet
    final = curve[curve["round"] == curve.groupby(keys[:3])["round"].transform("max")]
    summary: dict = {}
    for row in final.itertuples():
        summary.setdefault(row.dataset, {}).setdefault(row.model, {})[row.method] = {
            "round": int(row.round), "compression_ratio": round(float(row.compression_ratio), 4), "top1": round(float(row.top1), 6),
        }
    atomic_write_text(json_out, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    with atomic_path(csv_out) as tmp:
        curve.to_csv(tmp, index=False)
