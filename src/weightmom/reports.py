"""The steps that turn metric row files into the collected Parquet files, tables and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from weightmom.metrics import LAYER_SCHEMA, METRIC_SCHEMA, expand_dense, read_rows, write_table


def collect(
    *, metric_rows: Sequence[str | Path], layer_rows: Sequence[str | Path], methods: Sequence[str], metrics_out: str | Path, layers_out: str | Path
) -> None:
    """Gather row files into results/metrics.parquet and results/layers.parquet."""
    write_table(expand_dense(read_rows(metric_rows, METRIC_SCHEMA), methods), metrics_out)
    write_table(expand_dense(read_rows(layer_rows, LAYER_SCHEMA), methods), layers_out)


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
