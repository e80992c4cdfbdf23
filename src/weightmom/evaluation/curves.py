"""The curve contract: one Parquet row per training epoch of a dense run or pruning round.

Training and fine-tuning jobs write curve.parquet beside their checkpoint; the collect step
gathers them into results/<experiment>/curves.parquet (read with weightmom.evaluation.metrics.read_rows).
A module of its own, not part of weightmom.evaluation.metrics: the training steps write these rows,
and the workflow reruns a step when a module it imports changes (weightmom.provenance.codeversion),
so an edit to the metric rows must not retrain every model. The curve has its own
`schema_version` (in the schema's metadata), for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from weightmom.errors import MetricsError
from weightmom.evaluation.rows import rows_table
from weightmom.provenance.atomic import atomic_path

CURVE_VERSION = 1

CURVE_SCHEMA = pa.schema(
    [
        pa.field("schema_version", pa.int32()),
        pa.field("dataset", pa.string()),
        pa.field("model", pa.string()),
        pa.field("method", pa.string()),  # "dense" for the dense run
        pa.field("seed", pa.int64()),
        pa.field("round", pa.int64()),  # 0 for the dense run
        pa.field("epoch", pa.int64()),  # 1-based, within the run or round
        pa.field("train_loss", pa.float64()),  # mean over the epoch's batches
        pa.field("lr", pa.float64()),  # the learning rate used during the epoch
        pa.field("val_top1", pa.float64()),  # on the validation split, after the epoch
        pa.field("val_loss", pa.float64()),
        pa.field("seconds", pa.float64()),  # the epoch's wall time, its validation included
    ],
    metadata={"schema_version": str(CURVE_VERSION)},
)

#: what a run is identified by (the curve's other columns come from the trainer)
IDENTITY = ("dataset", "model", "method", "seed", "round")


def write_curve(identity: Mapping, records: Sequence[Mapping], path: str | Path) -> None:
    """Write a run's curve: `identity` (IDENTITY's columns) joined to each epoch's record
    (weightmom.training.loop.CURVE_FIELDS). Records must be epochs 1..N, one each."""
    epochs = [int(record["epoch"]) for record in records]
    if epochs != list(range(1, len(records) + 1)):
        raise MetricsError(f"{path}: curve records of epochs {epochs}, expected 1..{len(records)} once each")
    rows = [
        {"schema_version": CURVE_VERSION, **{key: identity[key] for key in IDENTITY}, **record} for record in records
    ]
    table = rows_table(rows, CURVE_SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
