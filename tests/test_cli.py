"""The command line: sub-commands bound to their step functions, help that lists the
choices, --version, the settings beside every result, and `show` / `compare`."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json

import pandas as pd
import pytest

import weightmom
from weightmom import cli
from weightmom.models import model_names
from weightmom.provenance.codeversion import step_digest
from weightmom.pruning import pruner_names
from weightmom.pruning.schedule import SCHEDULES
from weightmom.reporting.reports import collect
from weightmom.steps.evaluate import evaluate_checkpoint
from weightmom.steps.prune import prune_round
from weightmom.steps.train import train_dense
from weightmom.training.checkpoint import load_checkpoint

RECIPE = {"epochs": 1, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "lr_schedule": "cosine"}
PRUNING = {"target_compression": 4, "rounds": 1, "schedule": "geometric"}


@pytest.fixture(scope="module")
def results(digits_dir, tmp_path_factory):
    """A results folder made in process: a dense MLP and one magnitude round to 4x, both
    evaluated into the workflow's layout, and the collected metrics.parquet."""
    root = tmp_path_factory.mktemp("results")
    seed_dir = root / "runs/digits/mlp/seed0"
    dense, round1 = seed_dir / "dense/checkpoint.pt", seed_dir / "magnitude/round1/checkpoint.pt"
    train_dense(data_dir=digits_dir, dataset="digits", model_name="mlp", seed=0, recipe=RECIPE, device="cpu", out=dense)
    prune_round(
        checkpoint_path=dense,
        data_dir=digits_dir,
        method="magnitude",
        pruner_name="magnitude",
        pruner_options={},
        pruning=PRUNING,
        round_index=1,
        recipe=RECIPE,
        device="cpu",
        out=round1,
    )
    for checkpoint in (dense, round1):
        evaluate_checkpoint(
            checkpoint_path=checkpoint,
            data_dir=digits_dir,
            device="cpu",
            metrics_out=checkpoint.parent / "metrics.parquet",
            layers_out=checkpoint.parent / "layers.parquet",
        )
    collect(
        metric_rows=[dense.parent / "metrics.parquet", round1.parent / "metrics.parquet"],
        layer_rows=[dense.parent / "layers.parquet", round1.parent / "layers.parquet"],
        methods=["magnitude"],
        metrics_out=root / "metrics.parquet",
        layers_out=root / "layers.parquet",
        summary_json=root / "summary/metrics.json",
        summary_csv=root / "summary/accuracy.csv",
        target_round=2,
    )
    return root


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        cli.main([*argv, "--help"])
    assert stopped.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # help wraps lines


def _sub_commands() -> dict[str, argparse.ArgumentParser]:
    parser = cli._parser()
    (sub,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_sub_commands()))
def test_every_flag_is_a_keyword_of_the_function_its_sub_command_is_bound_to(name):
    command = _sub_commands()[name]
    module, function = command.get_default("step_function").split(":")
    parameters = inspect.signature(getattr(importlib.import_module(module), function)).parameters
    dests = {action.dest for action in command._actions if action.dest != "help"}
    assert dests - {"threads"} <= set(parameters), f"flags without a keyword: {dests - set(parameters)}"
    required = {
        key for key, p in parameters.items() if p.default is inspect.Parameter.empty and p.kind is p.KEYWORD_ONLY
    }
    assert required <= dests, f"keywords no flag sets: {required - dests}"


def test_help_lists_models_pruners_recipe_keys_and_schedules(capsys):
    train = _help(capsys, "train")
    assert all(name in train for name in model_names()) and "keys: epochs, batch_size, lr," in train
    prune = _help(capsys, "prune")
    assert f"one of: {', '.join(pruner_names())}" in prune
    assert f"schedule one of: {', '.join(SCHEDULES)}" in prune
    assert "--round ROUND " in prune and "--expect-seed EXPECT_SEED" in prune  # metavars are the flags' own


def test_version(capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"weightmom {weightmom.__version__}"


def test_counts_below_one_keep_their_messages(tmp_path, capsys):
    base = [
        "export",
        "--checkpoint",
        "c",
        "--dense-checkpoint",
        "d",
        "--data",
        "x",
        "--sparse-out",
        "s",
        "--onnx-out",
        "o",
        "--rows-out",
        "r",
    ]
    assert _run(capsys, *base, "--threads", "0")[2] == "weightmom export: error: --threads must be >= 1, got 0\n"
    assert (
        _run(capsys, *base, "--threads", "1", "--repeats", "0")[2]
        == "weightmom export: error: --repeats must be >= 1, got 0\n"
    )
    evaluate = [
        "evaluate",
        "--checkpoint",
        "c",
        "--data",
        "x",
        "--metrics-out",
        "m",
        "--layers-out",
        "l",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    assert (
        _run(capsys, *evaluate, "--jobs-per-gpu", "0")[2]
        == "weightmom evaluate: error: --jobs-per-gpu must be >= 1, got 0\n"
    )


def test_collect_wants_its_curve_outputs_together(tmp_path, capsys):
    argv = [
        "collect",
        "--methods",
        "m",
        "--metric-rows",
        "a",
        "--layer-rows",
        "b",
        "--metrics-out",
        "c",
        "--layers-out",
        "d",
        "--summary-json",
        "e",
        "--target-round",
        "1",
        "--summary-csv",
        "f",
        "--curves-out",
        "g",
    ]
    code, _, err = _run(capsys, *argv)
    assert (
        code == 2
        and err == "weightmom collect: error: collect: give --curves-out and --curves-csv together (or neither)\n"
    )


def test_expect_flags_reach_the_step(results, capsys):
    round1 = results / "runs/digits/mlp/seed0/magnitude/round1"
    code, _, err = _run(
        capsys,
        "evaluate",
        "--checkpoint",
        str(round1 / "checkpoint.pt"),
        "--data",
        str(round1),
        "--threads",
        "1",
        "--device",
        "cpu",
        "--metrics-out",
        "m",
        "--layers-out",
        "l",
        "--expect-seed",
        "3",
        "--expect-method",
        "magnitude",
    )
    assert code == 2 and err.strip().endswith("checkpoint is for seed 0, expected 3")


def test_every_checkpoint_has_its_resolved_settings_beside_it(results, digits_dir):
    dense_dir, round_dir = results / "runs/digits/mlp/seed0/dense", results / "runs/digits/mlp/seed0/magnitude/round1"
    dense, pruned = load_checkpoint(dense_dir / "checkpoint.pt"), load_checkpoint(round_dir / "checkpoint.pt")
    for folder, checkpoint in ((dense_dir, dense), (round_dir, pruned)):
        assert json.loads((folder / "settings.json").read_text()) == checkpoint.meta["settings"]
    settings = pruned.meta["settings"]
    assert {key: settings[key] for key in ("dataset", "model", "seed", "method", "round", "pruner")} == {
        "dataset": "digits",
        "model": "mlp",
        "seed": 0,
        "method": "magnitude",
        "round": 1,
        "pruner": "magnitude",
    }
    assert settings["pruner_options"] == {"min_density": 0.0}  # the schema's default filled in
    assert settings["pruning"] == PRUNING
    assert settings["recipe"] == {
        **RECIPE,
        "lr_milestones": [0.5, 0.75],
        "lr_gamma": 0.1,
        "augment": {"crop_padding": 0, "horizontal_flip": False},
    }
    assert settings["accelerator"] == {"channels_last": True, "bf16_autocast": True, "compile": False}
    assert settings["device"] == {"asked": "cpu", "used": "cpu"}
    assert settings["config_hash"] == pruned.meta["config_hash"]
    assert settings["code"]["code_digest"] == step_digest("prune", "magnitude")
    assert settings["code"]["weightmom_version"] == weightmom.__version__
    assert settings["code"]["git_commit"] == pruned.meta["git_commit"]
    assert settings["parent"] == {
        "checkpoint": str(dense_dir / "checkpoint.pt"),
        "config_hash": dense.meta["config_hash"],
        "dense_checkpoint": None,
    }
    assert dense.meta["settings"]["parent"] is None and dense.meta["settings"]["snapshot_epochs"] == []
    assert dense.meta["settings"]["code"]["code_digest"] == step_digest("train")


def test_an_evaluation_elsewhere_gets_the_settings_beside_its_rows(results, digits_dir, tmp_path):
    checkpoint = results / "runs/digits/mlp/seed0/magnitude/round1/checkpoint.pt"
    evaluate_checkpoint(
        checkpoint_path=checkpoint,
        data_dir=digits_dir,
        device="cpu",
        metrics_out=tmp_path / "rows/metrics.parquet",
        layers_out=tmp_path / "rows/layers.parquet",
    )
    assert json.loads((tmp_path / "rows/settings.json").read_text()) == load_checkpoint(checkpoint).meta["settings"]


def test_show_prints_settings_masks_and_metrics(results, capsys):
    folder = results / "runs/digits/mlp/seed0/magnitude/round1"
    code, out, _ = _run(capsys, "show", str(folder))
    assert code == 0
    assert "dataset digits, model mlp, method magnitude, seed 0, round 1" in out
    assert "pruner          magnitude" in out.replace("pruner_options", "")
    checkpoint = load_checkpoint(folder / "checkpoint.pt")
    for name, mask in checkpoint.masks.items():
        line = next(line for line in out.splitlines() if line.split()[:1] == [name])
        assert line.split()[1:] == [str(mask.numel()), str(int(mask.sum())), f"{float(mask.float().mean()):.4f}"]
    total = sum(mask.numel() for mask in checkpoint.masks.values())
    assert f"compression 4.00x ({round(total / 4)} of {total} prunable weights kept)" in out
    row = pd.read_parquet(folder / "metrics.parquet").iloc[0]
    assert f"test top-1 (%)   {100 * row['top1']:.2f}" in out
    assert f"val top-1 (%)    {100 * row['val_top1']:.2f}" in out
    assert _run(capsys, "show", str(folder / "checkpoint.pt"))[1] == out  # the file or its folder


def test_show_finds_the_row_in_a_collected_file_and_says_when_there_is_none(results, tmp_path, capsys):
    dense = results / "runs/digits/mlp/seed0/dense/checkpoint.pt"
    code, out, _ = _run(capsys, "show", str(dense), "--metrics", str(results / "metrics.parquet"))
    row = pd.read_parquet(dense.parent / "metrics.parquet").iloc[0]
    assert code == 0 and f"test top-1 (%)   {100 * row['top1']:.2f}" in out
    alone = tmp_path / "alone/checkpoint.pt"
    alone.parent.mkdir()
    alone.write_bytes(dense.read_bytes())
    code, out, _ = _run(capsys, "show", str(alone))
    assert code == 0 and f"metrics: not evaluated yet (no {alone.parent / 'metrics.parquet'})" in out


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["show", "{tmp}/missing"], "weightmom show: error: {tmp}/missing: checkpoint not found\n"),
        (
            ["show", "{dense}", "--metrics", "{tmp}/none.parquet"],
            "weightmom show: error: {tmp}/none.parquet: metrics file not found\n",
        ),
        (
            ["show", "{dense}", "--metrics", "{round}/metrics.parquet"],
            "weightmom show: error: {round}/metrics.parquet: holds no metric row of this checkpoint "
            "(dataset digits, model mlp, method dense, seed 0, round 0)\n",
        ),
        (
            ["compare", "{tmp}"],
            "weightmom compare: error: {tmp}/metrics.parquet: not found; compare reads a results folder's "
            "collected metrics (results/<experiment>)\n",
        ),
    ],
)
def test_bad_paths_are_one_line_errors(argv, error, results, tmp_path, capsys):
    places = {
        "tmp": tmp_path,
        "dense": results / "runs/digits/mlp/seed0/dense",
        "round": results / "runs/digits/mlp/seed0/magnitude/round1",
    }
    code, out, err = _run(capsys, *(arg.format(**places) for arg in argv))
    assert code == 2 and out == "" and err == error.format(**places)


def test_compare_prints_the_final_rounds(results, capsys):
    code, out, _ = _run(capsys, "compare", str(results))
    assert code == 0
    metrics = pd.read_parquet(results / "metrics.parquet").set_index(["method", "round"])
    lines = [line.strip("| ").split(" | ") for line in out.splitlines()[2:]]
    rows = [[cell.strip() for cell in line] for line in lines]
    dense, pruned = metrics.loc[("magnitude", 0)], metrics.loc[("magnitude", 1)]
    assert rows == [
        ["digits", "mlp", "dense", "0", "1", "1.00", f"{100 * dense['top1']:.2f}", f"{100 * dense['val_top1']:.2f}"],
        [
            "digits",
            "mlp",
            "magnitude",
            "1",
            "1",
            "4.00",
            f"{100 * pruned['top1']:.2f}",
            f"{100 * pruned['val_top1']:.2f}",
        ],
    ]
