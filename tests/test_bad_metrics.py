"""Bad metric row files: refused with the file named, before anything is written from them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from weightmom.cli import main
from weightmom.errors import MetricsError
from weightmom.evaluation.metrics import LAYER_SCHEMA, METRIC_SCHEMA, SCHEMA_VERSION, read_rows, write_rows

from helpers import metric_row


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "rows/good.parquet"
    write_rows([metric_row("net", "dense", 0, 0, 0.9, 1.0)], METRIC_SCHEMA, path)
    return path


def _refused(path) -> str:
    with pytest.raises(MetricsError) as error:
        read_rows([path], METRIC_SCHEMA)
    return str(error.value)


def test_missing_columns(good, tmp_path):
    short = tmp_path / "short.parquet"
    pq.write_table(pq.read_table(good).drop(["top1", "seed"]), short)
    assert _refused(short) == f"{short}: missing columns ['seed', 'top1']"


def test_another_schema_version(good, tmp_path):
    future = tmp_path / "future.parquet"
    table = pq.read_table(good)
    pq.write_table(table.set_column(0, "schema_version", pa.array([SCHEMA_VERSION + 1], pa.int32())), future)
    assert _refused(future) == f"{future}: schema_version [{SCHEMA_VERSION + 1}], this package reads {SCHEMA_VERSION}"


def test_a_file_from_before_collapsed_layers_is_refused_not_read_as_zero(good, tmp_path):
    old = tmp_path / "old.parquet"
    table = pq.read_table(good).drop(["collapsed_layers"])
    pq.write_table(table.set_column(0, "schema_version", pa.array([3], pa.int32())), old)
    assert _refused(old) == f"{old}: missing columns ['collapsed_layers']"


def test_no_schema_version_at_all(good, tmp_path):
    bare = tmp_path / "bare.parquet"
    pq.write_table(pq.read_table(good).drop(["schema_version"]), bare)
    assert _refused(bare) == f"{bare}: missing columns ['schema_version']"


def test_columns_of_the_wrong_type(good, tmp_path):
    wrong = tmp_path / "wrong.parquet"
    table = pq.read_table(good)
    index = table.column_names.index("top1")
    pq.write_table(table.set_column(index, "top1", pa.array(["high"])), wrong)
    assert _refused(wrong).startswith(f"{wrong}: columns of the wrong type: ")


def test_layer_rows_given_as_metric_rows(tmp_path):
    layers = tmp_path / "layers.parquet"
    row = {k: v for k, v in metric_row("net", "wm", 0, 1, 0.9, 4.0).items() if k in LAYER_SCHEMA.names}
    write_rows([{**row, "layer": "fc", "numel": 10, "nonzero": 5, "density": 0.5}], LAYER_SCHEMA, layers)
    assert _refused(layers).startswith(
        f"{layers}: missing columns ['collapsed_layers', 'compression_ratio', 'config_hash',"
    )


@pytest.mark.parametrize("content", [b"", b"PAR1 but not really", None])
def test_truncated_empty_or_missing_file(good, tmp_path, content):
    path = tmp_path / "metrics.parquet"
    if content is None:
        assert _refused(path) == f"{path}: metrics file not found"
        return
    path.write_bytes(content or good.read_bytes()[: len(good.read_bytes()) // 2])
    message = _refused(path)
    assert message.startswith(f"{path}: unreadable Parquet file (") and message.endswith(
        "; delete it and rerun to remake it"
    )


def test_table_step_refuses_a_bad_row_file_and_writes_no_table(good, tmp_path, capsys):
    future = tmp_path / "future.parquet"
    table = pq.read_table(good)
    pq.write_table(table.set_column(0, "schema_version", pa.array([0], pa.int32())), future)
    code = main(
        [
            "table",
            "--title",
            "t",
            "--kind",
            "paper",
            "--models",
            "net",
            "--methods",
            "wm",
            "--target-compression",
            "15",
            "--tolerance",
            "1",
            "--metric-rows",
            str(good),
            str(future),
            "--out-prefix",
            str(tmp_path / "tables/t"),
        ]
    )
    assert code == 2
    assert (
        capsys.readouterr().err
        == f"weightmom table: error: {future}: schema_version [0], this package reads {SCHEMA_VERSION}\n"
    )
    assert not (tmp_path / "tables").exists()


def test_two_files_with_the_row_of_the_same_checkpoint(good, tmp_path):
    copy = tmp_path / "elsewhere/metrics.parquet"
    copy.parent.mkdir()
    copy.write_bytes(good.read_bytes())
    with pytest.raises(MetricsError) as error:
        read_rows([good, copy], METRIC_SCHEMA)
    assert str(error.value) == (
        f"{copy}: holds the row of {{'dataset': 'toy', 'model': 'net', 'method': 'dense', 'seed': 0, 'round': 0}}, "
        f"as does {good}; one of them comes from a checkpoint in the wrong directory: delete it and rerun"
    )
