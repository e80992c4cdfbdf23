"""A round that leaves a layer with no weight (a user's method can do it): the prune step's
log warns naming the layer, the metric row counts such layers (`collapsed_layers`), and
`weightmom show` and the table's note name them."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from weightmom import cli
from weightmom.evaluation.metrics import METRIC_SCHEMA, read_rows, write_rows
from weightmom.pruning import Pruner, register_pruner, registry
from weightmom.reporting import reports
from weightmom.steps.evaluate import evaluate_checkpoint
from weightmom.steps.prune import prune_round
from weightmom.training.checkpoint import load_checkpoint

from helpers import FAST_RECIPE, metric_row

NOTE = "Collapsed layers (no weight kept, so no signal passes; `weightmom show` names them): "


class _LastLayerLast(Pruner):
    """The issue's bug as a method: its scores rank the last prunable layer below every
    other weight, and the global allocation removes that layer whole."""

    allocation = "global"

    def scores(self, context):
        last = list(context.params)[-1]
        return {name: torch.full_like(p, -1.0) if name == last else p.abs() for name, p in context.params.items()}


def _evaluate(checkpoint, digits_dir):
    evaluate_checkpoint(
        checkpoint_path=checkpoint,
        data_dir=digits_dir,
        device="cpu",
        metrics_out=checkpoint.parent / "metrics.parquet",
        layers_out=checkpoint.parent / "layers.parquet",
    )


@pytest.fixture(scope="module")
def collapsed(dense_mlp, digits_dir, tmp_path_factory):
    """Round 1 of the method to 4x from the dense MLP and the dense network, each evaluated
    beside its checkpoint (a copy of the dense one), and what the round wrote to its log."""
    root = tmp_path_factory.mktemp("collapse")
    dense, round1 = root / "dense/checkpoint.pt", root / "round1/checkpoint.pt"
    dense.parent.mkdir()
    dense.write_bytes(dense_mlp.read_bytes())
    log = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(log):
        patch.setattr(registry, "_METHODS", dict(registry._METHODS))  # the method stays out of other tests
        register_pruner("last_layer_last", schema={"type": "object", "properties": {}})(_LastLayerLast)
        prune_round(
            checkpoint_path=dense,
            data_dir=digits_dir,
            method="collapse",
            pruner_name="last_layer_last",
            pruner_options={},
            pruning={"target_compression": 4, "rounds": 1, "schedule": "geometric"},
            round_index=1,
            recipe={**FAST_RECIPE, "epochs": 1},
            device="cpu",
            out=round1,
        )
    for checkpoint in (dense, round1):
        _evaluate(checkpoint, digits_dir)
    return root, log.getvalue()


def _last_layer(checkpoint) -> tuple[str, int]:
    name, mask = list(load_checkpoint(checkpoint).masks.items())[-1]
    return name, mask.numel()


def test_the_round_warns_in_its_log_naming_the_layer(collapsed):
    root, log = collapsed
    name, size = _last_layer(root / "round1/checkpoint.pt")
    assert (
        f"warning: collapse round 1: layer {name}: 0 of {size} weights kept; "
        "the network cannot pass signal through it (a min_density option keeps a share of every layer)\n"
    ) in log
    assert log.count("warning:") == 1  # the other layers keep weights


def test_the_metric_row_counts_the_layers_with_no_weight(collapsed):
    root, _ = collapsed
    rows = read_rows([root / "dense/metrics.parquet", root / "round1/metrics.parquet"], METRIC_SCHEMA)
    assert rows.set_index("round")["collapsed_layers"].to_dict() == {0: 0, 1: 1}


def test_show_names_the_collapsed_layers(collapsed, capsys):
    root, _ = collapsed
    name, size = _last_layer(root / "round1/checkpoint.pt")
    assert cli.main(["show", str(root / "round1")]) == 0
    assert f"  collapsed layers: {name} (0 of {size}); no signal passes through them\n" in capsys.readouterr().out
    assert cli.main(["show", str(root / "dense")]) == 0
    assert "collapsed layers" not in capsys.readouterr().out


def _table(metric_rows, methods, out_prefix) -> str:
    reports.make_table(
        title="t",
        kind="paper",
        metric_rows=metric_rows,
        models=["mlp"],
        methods=methods,
        target_compression=4,
        tolerance=1.0,
        method_options={},
        out_prefix=out_prefix,
    )
    return out_prefix.with_suffix(".md").read_text()


def test_the_table_note_names_the_run_and_round(collapsed, tmp_path):
    root, _ = collapsed
    rows = [root / "dense/metrics.parquet", root / "round1/metrics.parquet"]
    markdown = _table(rows, ["collapse"], tmp_path / "t")
    sentence = f"{NOTE}collapse on mlp, seed 0 round 1: 1 layer(s)."
    assert markdown.rstrip().endswith(sentence)
    assert sentence in (tmp_path / "t.tex").read_text() and sentence in (tmp_path / "t.html").read_text()


def test_a_table_whose_rounds_keep_every_layer_has_no_such_note(tmp_path):
    rows = [tmp_path / "dense.parquet", tmp_path / "mag.parquet"]
    write_rows([metric_row("mlp", "dense", 0, 0, 0.90, 1.0)], METRIC_SCHEMA, rows[0])
    write_rows([metric_row("mlp", "mag", 0, 1, 0.85, 4.0)], METRIC_SCHEMA, rows[1])
    assert "Collapsed layers" not in _table(rows, ["mag"], tmp_path / "t")
