"""Rows (dicts) to an Arrow table of a given schema, for the Parquet files the steps write."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.json as pj


def rows_table(rows: Sequence[Mapping], schema: pa.Schema) -> pa.Table:
    """`rows` (dicts of JSON values: str, int, float, bool, None) as a table of `schema`.
    Read as JSON lines by Arrow's own reader, not converted by pa.Table.from_pylist, which
    imports pandas (0.1-0.3 s) to check whether the values are pandas objects. Floats come
    back bit for bit (json writes the shortest repr; NaN and +-Infinity included)."""
    if not rows:
        return schema.empty_table()
    text = "\n".join(json.dumps(row, default=_plain) for row in rows).encode()
    # keys outside the schema are left out, missing ones are null: as from_pylist does
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    table = pj.read_json(io.BytesIO(text), read_options=pj.ReadOptions(use_threads=False), parse_options=options)
    return table.select(schema.names).cast(schema).combine_chunks()


def _plain(value):
    """A numpy scalar as the Python value it holds (what from_pylist accepted too)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not a JSON value")
