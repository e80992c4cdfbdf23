"""Per-epoch curves: every training and fine-tuning job writes one row per epoch (training
loss, learning rate, validation top-1 and loss, seconds) beside its checkpoint, a killed and
resumed job too (test_training's kill-and-resume check); collect gathers them; the curves
figure and DVC summary are drawn from them. The workflow's curves.parquet and figure are
checked in test_workflow's end-to-end run."""

from __future__ import annotations

import math
import subprocess

import pandas as pd
import pytest
import torch

from weightmom.data.splits import load_split
from weightmom.errors import MetricsError
from weightmom.evaluation.accuracy import evaluate
from weightmom.evaluation.curves import CURVE_SCHEMA, write_curve
from weightmom.evaluation.metrics import read_rows
from weightmom.provenance.integrity import save_with_digest
from weightmom.pruning import build_pruner
from weightmom.reporting import reports
from weightmom.steps.prune import prune_round
from weightmom.steps.train import train_dense
from weightmom.training.checkpoint import load_checkpoint
from weightmom.training.loop import lr_factor
from weightmom.training.recipe import Recipe

from helpers import FAST_RECIPE, RESUME_RECIPE, check_sensible_curve, kill_at_epoch, train_command

COLUMNS = [
    "dataset",
    "model",
    "method",
    "seed",
    "round",
    "epoch",
    "train_loss",
    "lr",
    "val_top1",
    "val_loss",
    "seconds",
]


def test_a_dense_curve_has_one_row_per_epoch_following_the_schedule(digits_dir, tmp_path):
    torch.set_num_threads(1)
    recipe = {**FAST_RECIPE, "epochs": 5}
    out = tmp_path / "dense/checkpoint.pt"
    train_dense(data_dir=digits_dir, dataset="digits", model_name="mlp", seed=0, recipe=recipe, device="cpu", out=out)
    curve = pd.read_parquet(out.parent / "curve.parquet")
    assert list(curve.columns) == ["schema_version", *COLUMNS]
    assert set(curve["method"]) == {"dense"} and set(curve["round"]) == {0} and set(curve["model"]) == {"mlp"}
    check_sensible_curve(curve, 5)
    schedule = Recipe.from_dict(recipe)
    assert curve["lr"].tolist() == pytest.approx([recipe["lr"] * lr_factor(schedule, e) for e in range(5)])
    assert curve["train_loss"].iloc[-1] < curve["train_loss"].iloc[0]
    checkpoint = load_checkpoint(out)
    assert curve["seconds"].sum() <= checkpoint.meta["train_seconds"]  # the epochs are what training took
    # the last row is the checkpoint's own validation accuracy, as the evaluate step measures it
    final = evaluate(checkpoint.build(torch.device("cpu")), load_split(digits_dir / "val.npz"))
    assert curve["val_top1"].iloc[-1] == pytest.approx(final.top1)
    assert curve["val_loss"].iloc[-1] == pytest.approx(final.loss, rel=1e-5)


def test_a_round_curve_follows_its_methods_rewound_schedule(dense_mlp, digits_dir, tmp_path):
    torch.set_num_threads(1)
    finetune = {**FAST_RECIPE, "epochs": 3, "lr": 0.01}
    out = tmp_path / "lr_rewind/round1/checkpoint.pt"
    curve_out = tmp_path / "elsewhere/curve.parquet"
    prune_round(
        checkpoint_path=dense_mlp,
        data_dir=digits_dir,
        method="lr_rewind",
        pruner_name="lr_rewind",
        pruner_options={},
        pruning={"target_compression": 15, "rounds": 2, "schedule": "geometric"},
        round_index=1,
        recipe=finetune,
        dense_checkpoint_path=dense_mlp,
        dense_recipe=FAST_RECIPE,
        device="cpu",
        out=out,
        curve_out=curve_out,
    )
    assert not (out.parent / "curve.parquet").exists()  # where it was asked to go
    curve = pd.read_parquet(curve_out)
    assert set(curve["method"]) == {"lr_rewind"} and set(curve["round"]) == {1} and set(curve["seed"]) == {0}
    check_sensible_curve(curve, 3)
    rewound = build_pruner("lr_rewind", {}).learning_rate(Recipe.from_dict(FAST_RECIPE), Recipe.from_dict(finetune))
    assert curve["lr"].tolist() == pytest.approx([rewound(e) for e in range(3)])
    assert curve["lr"].iloc[0] != finetune["lr"]  # the dense run's rates, not the fine-tuning recipe's


@pytest.mark.slow
def test_a_resume_state_without_the_curve_is_not_resumed(digits_dir, tmp_path):
    """An older version's resume file (no curve records): resuming it would leave the curve
    without its first epochs, so the job starts over."""
    out = tmp_path / "run/checkpoint.pt"
    resume = out.parent / "resume.pt"
    kill_at_epoch(train_command(digits_dir, out, RESUME_RECIPE), resume, 2)
    state = torch.load(resume, weights_only=True)
    for field in ("digest", "curve"):
        state.pop(field)
    save_with_digest(state, resume)  # the key kept: a state of the same settings, as an older version wrote it
    result = subprocess.run(train_command(digits_dir, out, RESUME_RECIPE), capture_output=True, text=True, check=True)
    assert (
        f"{resume}: resume state without a curve record per epoch (an older version's); starting over" in result.stderr
    )
    check_sensible_curve(pd.read_parquet(out.parent / "curve.parquet"), RESUME_RECIPE["epochs"])


def _records(epochs: int, top1: list[float], seconds: float = 1.0) -> list[dict]:
    return [
        {"epoch": e, "train_loss": 1.0 / e, "lr": 0.1 / e, "val_top1": t, "val_loss": 1.0 - t, "seconds": seconds}
        for e, t in zip(range(1, epochs + 1), top1)
    ]


@pytest.fixture
def curve_files(tmp_path):
    """Hand-made curves: a dense run of 3 epochs and 2 rounds x 2 epochs of two methods, two seeds."""
    paths = []
    for seed in (0, 1):
        runs = [("dense", 0, _records(3, [0.5, 0.8, 0.9 + 0.02 * seed]))]
        for method, base in (("wm", 0.80), ("mag", 0.70)):
            for round_index in (1, 2):
                top1 = [base + 0.05 * round_index + 0.01 * seed, base + 0.06 * round_index + 0.01 * seed]
                runs.append((method, round_index, _records(2, top1)))
        for method, round_index, records in runs:
            path = tmp_path / f"runs/seed{seed}/{method}/round{round_index}/curve.parquet"
            identity = {"dataset": "toy", "model": "net", "method": method, "seed": seed, "round": round_index}
            write_curve(identity, records, path)
            paths.append(path)
    return paths


def test_collect_gathers_the_curves_and_a_summary_dvc_can_plot(curve_files, tmp_path):
    from weightmom.evaluation.metrics import METRIC_SCHEMA, write_rows

    from helpers import metric_row

    metric_path = tmp_path / "m/rows.parquet"
    write_rows([metric_row("net", "dense", 0, 0, 0.9, 1.0)], METRIC_SCHEMA, metric_path)
    reports.collect(
        metric_rows=[metric_path],
        layer_rows=[],
        methods=["wm", "mag"],
        metrics_out=tmp_path / "metrics.parquet",
        layers_out=tmp_path / "layers.parquet",
        summary_json=tmp_path / "s.json",
        summary_csv=tmp_path / "s.csv",
        target_round=2,
        curve_rows=curve_files,
        curves_out=tmp_path / "curves.parquet",
        curves_csv=tmp_path / "curves.csv",
    )
    curves = pd.read_parquet(tmp_path / "curves.parquet")
    assert len(curves) == 2 * (3 + 2 * 2 * 2)  # seeds x (dense epochs + methods x rounds x epochs)
    assert len(curves[curves["method"] == "dense"]) == 2 * 3  # the dense run once, not once per method
    summary = pd.read_csv(tmp_path / "curves.csv")
    assert set(summary["method"]) == {"wm", "mag"} and set(summary["panel"]) == {"toy / net"}
    wm = summary[summary["method"] == "wm"]
    assert (
        wm["step"].tolist() == [1, 2, 3, 4]
        and wm["round"].tolist() == [1, 1, 2, 2]
        and wm["epoch"].tolist() == [1, 2, 1, 2]
    )
    assert wm["val_top1"].tolist() == pytest.approx([0.855, 0.865, 0.905, 0.925])  # mean over the two seeds
    assert set(summary["seeds"]) == {2}


def test_curves_figure_is_a_png(curve_files, tmp_path):
    from PIL import Image

    out = tmp_path / "figures/net_curves.png"
    reports.make_curves_figure(
        title="toy / net: fine-tuning curves", curve_rows=curve_files, methods=["wm", "mag"], out=out
    )
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 800 and image.size[1] > 500


def test_curve_files_are_checked_on_reading(curve_files, tmp_path):
    with pytest.raises(MetricsError, match="epochs \\[1, 3\\]"):
        write_curve(
            {"dataset": "t", "model": "m", "method": "x", "seed": 0, "round": 1},
            [_records(1, [0.5])[0], {**_records(3, [0.1] * 3)[2]}],
            tmp_path / "bad.parquet",
        )
    copied = tmp_path / "copy/curve.parquet"
    copied.parent.mkdir()
    copied.write_bytes(curve_files[0].read_bytes())
    with pytest.raises(MetricsError, match="holds the row of"):
        read_rows([curve_files[0], copied], CURVE_SCHEMA)


def test_without_a_validation_split_the_curve_has_no_validation_numbers(digits_train):
    from weightmom.models import build_model
    from weightmom.training.loop import train

    torch.manual_seed(0)
    model = build_model("mlp", digits_train.input_shape, digits_train.num_classes)
    trained = train(model, digits_train, Recipe.from_dict(FAST_RECIPE), seed=0)
    assert [record["epoch"] for record in trained.curve] == [1, 2]
    assert all(math.isnan(record["val_top1"]) and math.isnan(record["val_loss"]) for record in trained.curve)
    assert sum(record["seconds"] for record in trained.curve) <= trained.seconds
