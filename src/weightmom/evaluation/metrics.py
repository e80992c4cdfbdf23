"""The metric contract: one Parquet row per evaluated checkpoint, one per (checkpoint, layer),
one per exported checkpoint.

Row files are written by the evaluate and export steps and gathered into
results/<experiment>/metrics.parquet, layers.parquet and exports.parquet. Every file
carries `schema_version`; a reader refuses a file with missing columns or another
version, naming the file.

A metric row's `collapsed_layers` counts the prunable layers its checkpoint keeps no weight
of (0 for a dense network). A file without it (schema 3 and older) is refused like any file
missing a column, not read as 0: 0 would say that an older row's network kept every layer
when nothing checked, the silence the column is there to end. The workflow remakes such
files by itself (this module is in the evaluate step's code digest); by hand, rerun the
evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:  # pandas is imported where frames are built: evaluation jobs do not need it
    import pandas as pd

from weightmom.errors import MetricsError
from weightmom.evaluation.rows import rows_table
from weightmom.lineage import DENSE
from weightmom.provenance.atomic import atomic_path

SCHEMA_VERSION = 4  # 2: validation columns; 3: git_dirty; 4: collapsed_layers

_KEY_FIELDS = [
    pa.field("schema_version", pa.int32()),
    pa.field("dataset", pa.string()),
    pa.field("model", pa.string()),
    pa.field("method", pa.string()),
    pa.field("seed", pa.int64()),
    pa.field("round", pa.int64()),
]
#: the columns that identify a checkpoint's row
ROW_KEY = [field.name for field in _KEY_FIELDS[1:]]

METRIC_SCHEMA = pa.schema(
    _KEY_FIELDS
    + [
        pa.field("target_sparsity", pa.float64()),
        pa.field("sparsity", pa.float64()),
        pa.field("compression_ratio", pa.float64()),
        pa.field("params_total", pa.int64()),
        pa.field("params_prunable", pa.int64()),
        pa.field("params_nonzero", pa.int64()),
        pa.field("collapsed_layers", pa.int64()),
        pa.field("top1", pa.float64()),
        pa.field("top5", pa.float64()),
        pa.field("loss", pa.float64()),
        pa.field("val_top1", pa.float64()),
        pa.field("val_top5", pa.float64()),
        pa.field("val_loss", pa.float64()),
        pa.field("flops_dense", pa.float64()),
        pa.field("flops_sparse", pa.float64()),
        pa.field("train_seconds", pa.float64()),
        pa.field("config_hash", pa.string()),
        pa.field("git_commit", pa.string()),
        pa.field("git_dirty", pa.bool_()),
        pa.field("torch_version", pa.string()),
        pa.field("device", pa.string()),
    ]
)

LAYER_SCHEMA = pa.schema(
    _KEY_FIELDS
    + [
        pa.field("layer", pa.string()),
        pa.field("numel", pa.int64()),
        pa.field("nonzero", pa.int64()),
        pa.field("density", pa.float64()),
        pa.field("flops_dense", pa.float64()),
        pa.field("flops_sparse", pa.float64()),
    ]
)

# One row per test image of an evaluated checkpoint: its label and the predicted class, in
# the test split's order. Two methods' files pair image by image (tables' paired bootstrap).
PREDICTION_SCHEMA = pa.schema(
    _KEY_FIELDS
    + [
        pa.field("index", pa.int32()),
        pa.field("label", pa.int32()),
        pa.field("predicted", pa.int32()),
    ]
)

#: CPU latencies of an export row, milliseconds: runtime (torch, ort) x batch size (1, 128)
LATENCY_COLUMNS = [f"{runtime}_b{batch}_ms" for runtime in ("torch", "ort") for batch in (1, 128)]

EXPORT_SCHEMA = pa.schema(
    _KEY_FIELDS
    + [
        pa.field("compression_ratio", pa.float64()),
        pa.field("params_prunable", pa.int64()),
        pa.field("params_kept", pa.int64()),
        pa.field("dense_file_bytes", pa.int64()),
        pa.field("sparse_file_bytes", pa.int64()),
        pa.field("size_ratio", pa.float64()),
        pa.field("onnx_bytes", pa.int64()),
        pa.field("onnx_check_images", pa.int64()),
        pa.field("onnx_max_abs_logit_diff", pa.float64()),
        pa.field("onnx_agreement", pa.float64()),
        pa.field("latency_threads", pa.int64()),
        pa.field("latency_runs", pa.int64()),
    ]
    + [pa.field(name, pa.float64()) for name in LATENCY_COLUMNS]
    + [pa.field(f"dense_{name}", pa.float64()) for name in LATENCY_COLUMNS]
    + [
        pa.field("cpu", pa.string()),
        pa.field("torch_version", pa.string()),
        pa.field("onnxruntime_version", pa.string()),
    ]
)


def write_rows(rows: Sequence[Mapping], schema: pa.Schema, path: str | Path) -> None:
    """Write rows (dicts with every schema column but `schema_version`) as Parquet."""
    records = [{"schema_version": SCHEMA_VERSION, **row} for row in rows]
    missing = sorted({f.name for f in schema} - set().union(*map(set, records))) if records else []
    if missing:
        raise MetricsError(f"{path}: rows lack columns {missing}")
    table = rows_table(records, schema)
    write_table(table, path)


def write_table(table: pa.Table | pd.DataFrame, path: str | Path) -> None:
    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_rows(paths: Iterable[str | Path], schema: pa.Schema) -> pd.DataFrame:
    """Concatenate row files, checking each against `schema` and that no two files hold
    a row of the same checkpoint (or layer, or curve epoch): one copied into another run's
    directory. `schema` may be another module's (weightmom.evaluation.curves.CURVE_SCHEMA)."""
    import pandas as pd

    frames, owners = [], {}
    key = ROW_KEY + [column for column in ("layer", "epoch") if column in schema.names]
    for path in map(Path, paths):
        frame = _read_checked(path, schema)
        for row in frame[key].itertuples(index=False):
            if row in owners and owners[row] != path:
                raise MetricsError(
                    f"{path}: holds the row of {dict(zip(key, row))}, as does {owners[row]}; one of them comes from "
                    "a checkpoint in the wrong directory: delete it and rerun"
                )
            owners[row] = path
        frames.append(frame)
    if not frames:
        return schema.empty_table().to_pandas()
    return pd.concat(frames, ignore_index=True)


def _version(schema: pa.Schema) -> int:
    """The schema_version files of `schema` carry: its own (in its metadata) or this module's."""
    own = (schema.metadata or {}).get(b"schema_version")
    return int(own) if own is not None else SCHEMA_VERSION


def _read_checked(path: Path, schema: pa.Schema) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise MetricsError(f"{path}: metrics file not found") from None
    except Exception as exc:
        raise MetricsError(f"{path}: unreadable Parquet file ({exc}); delete it and rerun to remake it") from None
    missing = sorted(set(schema.names) - set(table.column_names))
    if missing:
        raise MetricsError(f"{path}: missing columns {missing}")
    versions, expected = set(table.column("schema_version").to_pylist()), _version(schema)
    if versions != {expected}:
        raise MetricsError(f"{path}: schema_version {sorted(versions)}, this package reads {expected}")
    try:
        return table.select(schema.names).cast(schema).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise MetricsError(f"{path}: columns of the wrong type: {exc}") from None


def expand_dense(frame: pd.DataFrame, methods: Sequence[str]) -> pd.DataFrame:
    """Round 0 of every method is the shared dense checkpoint: give each method its copy."""
    import pandas as pd

    dense = frame[frame["method"] == DENSE]
    copies = [dense.assign(method=method) for method in methods]
    pruned = frame[frame["method"] != DENSE]
    combined = pd.concat([*copies, pruned], ignore_index=True)
    return combined.sort_values(["dataset", "model", "method", "seed", "round"], ignore_index=True)
