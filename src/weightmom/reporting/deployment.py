"""Deployment tables: what the exported networks weigh on disk and how fast they run.

Rows model x method (the dense network first, then each method's final round) from the
export rows (metrics.EXPORT_SCHEMA); every number is a mean over seeds. A latency's
speed-up is the dense network's latency over this one's, each measured in the same job,
interleaved (weightmom.export.latency), taken per seed and then averaged.
Written as .md (formatted) and .csv (numeric).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from weightmom.evaluation.metrics import LATENCY_COLUMNS
from weightmom.lineage import DENSE
from weightmom.provenance.atomic import atomic_path, atomic_write_text
from weightmom.reporting import html_page

SIZES = ["dense_file_bytes", "sparse_file_bytes", "onnx_bytes"]
_RUNTIME_NAMES = {"torch": "PyTorch", "ort": "ONNX Runtime"}


def deployment_table(rows: pd.DataFrame, models: Sequence[str], methods: Sequence[str]) -> pd.DataFrame:
    """Per (model, method), in the given order with `dense` first: means over seeds of the
    sizes, size ratio, ONNX check, latencies and speed-ups, and the number of seeds."""
    rows = rows.copy()
    for column in LATENCY_COLUMNS:
        rows[column.replace("_ms", "_speedup")] = rows[f"dense_{column}"] / rows[column]
    numeric = ["compression_ratio", *SIZES, "size_ratio", "onnx_max_abs_logit_diff", "onnx_agreement", *LATENCY_COLUMNS]
    numeric += [column.replace("_ms", "_speedup") for column in LATENCY_COLUMNS]
    grouped = rows.groupby(["model", "method"])
    table = grouped[numeric].mean()
    table["seeds"] = grouped["seed"].nunique()
    table["latency_threads"] = grouped["latency_threads"].max()
    table["latency_runs"] = grouped["latency_runs"].min()
    order = pd.MultiIndex.from_product(
        [models, [DENSE, *[m for m in methods if m != DENSE]]], names=["model", "method"]
    )
    return table.reindex(order).dropna(how="all").reset_index()


def _kib(value: float) -> str:
    return f"{value / 1024:.1f}"


def to_markdown(table: pd.DataFrame) -> str:
    return cells(table).to_markdown(index=False, disable_numparse=True) + "\n"


def cells(table: pd.DataFrame) -> pd.DataFrame:
    """The table as formatted cells, one column per figure (what .md and .html show)."""
    shown = pd.DataFrame(
        {
            "Model": table["model"],
            "Method": table["method"],
            "Compression (x)": table["compression_ratio"].map("{:.1f}".format),
            "Dense file (KiB)": table["dense_file_bytes"].map(_kib),
            "Sparse file (KiB)": table["sparse_file_bytes"].map(_kib),
            "File compression (x)": table["size_ratio"].map("{:.2f}".format),
            "ONNX file (KiB)": table["onnx_bytes"].map(_kib),
        }
    )
    for column in LATENCY_COLUMNS:
        runtime, batch = column.removesuffix("_ms").split("_b")
        speedup = column.replace("_ms", "_speedup")
        shown[f"{_RUNTIME_NAMES[runtime]} batch {batch} (ms)"] = [
            f"{ms:.3f}" if method == DENSE else f"{ms:.3f} ({ratio:.2f}x)"
            for ms, ratio, method in zip(table[column], table[speedup], table["method"])
        ]
    shown["Seeds"] = table["seeds"].astype(int).to_numpy()
    return shown


def write_deployment_files(table: pd.DataFrame, prefix: str | Path, title: str, cpu: str) -> None:
    """<prefix>.md and .html (formatted, with what the numbers are; the HTML for the report)
    and <prefix>.csv (numeric)."""
    prefix = Path(prefix)
    threads = int(table["latency_threads"].max()) if len(table) else 1
    runs = int(table["latency_runs"].min()) if len(table) else 0
    note = (
        "Means over seeds. Compression: prunable weights / surviving weights. Dense file: torch.save of the "
        "network's state dict (zeros stored); sparse file: the exported .safetensors (bitmask + surviving values); "
        "file compression: dense file / sparse file. ONNX stores every weight, zeros included. Latency: median of "
        f"at least {runs} timed runs after 3 warm-up runs, on {threads} CPU thread(s) of {cpu}; in brackets the "
        "speed-up over the dense network of the same model and seed, timed in the same job, interleaved "
        "(dense latency / this latency): dense kernels multiply the zeros too, so about 1.00x is expected."
    )
    atomic_write_text(prefix.with_suffix(".md"), f"# {title}\n\n{to_markdown(table)}\n{note}\n")
    atomic_write_text(
        prefix.with_suffix(".html"),
        html_page.page(title, [html_page.table(cells(table), "wide"), html_page.paragraph(note)]),
    )
    with atomic_path(prefix.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
