"""The checkpoint-making steps: training, pruning rounds, checkpoints and metric rows."""

import subprocess

import pyarrow.parquet as pq
import pytest
import torch

from weightmom.errors import CheckpointError, SpecError
from weightmom.evaluation.metrics import LAYER_SCHEMA, METRIC_SCHEMA
from weightmom.pruning import keep_counts
from weightmom.steps.evaluate import evaluate_checkpoint
from weightmom.steps.prune import prune_round
from weightmom.steps.train import train_dense
from weightmom.training.checkpoint import load_checkpoint, save_checkpoint
from weightmom.training.masks import count_kept, count_total

from helpers import FAST_RECIPE, prune_args

PRUNING = {"target_compression": 15, "rounds": 3, "schedule": "geometric"}
WEIGHTMOM = {"score": "momentum", "allocation": "levelling", "beta": 0.5, "granularity": "epoch", "min_density": 0.02}
FINETUNE = {**FAST_RECIPE, "epochs": 1, "lr": 0.01}


def _prune_chain(dense, digits_dir, out_dir, method="weightmom", pruner="weightmom", options=WEIGHTMOM):
    previous = dense
    for r in range(1, PRUNING["rounds"] + 1):
        out = out_dir / method / f"round{r}" / "checkpoint.pt"
        prune_round(
            checkpoint_path=previous,
            data_dir=digits_dir,
            method=method,
            pruner_name=pruner,
            pruner_options=options,
            pruning=PRUNING,
            round_index=r,
            recipe=FINETUNE,
            device="cpu",
            out=out,
        )
        previous = out
    return previous


def test_rounds_reach_the_target_compression_exactly(dense_mlp, digits_dir, tmp_path):
    final = load_checkpoint(_prune_chain(dense_mlp, digits_dir, tmp_path))
    total = count_total(final.masks)
    assert count_kept(final.masks) == keep_counts(total, 15, 3, "geometric")[-1] == round(total / 15)
    model = final.build()
    params = dict(model.named_parameters())
    for name, mask in final.masks.items():
        assert (params[name].detach()[~mask] == 0).all()
    assert set(final.pruner_state) == set(final.masks)
    assert final.meta["round"] == 3 and final.meta["method"] == "weightmom"


def test_checkpoint_round_trips_bit_for_bit(dense_mlp, digits_dir, tmp_path):
    original = load_checkpoint(_prune_chain(dense_mlp, digits_dir, tmp_path))
    copy_path = tmp_path / "copy.pt"
    save_checkpoint(original, copy_path)
    copy = load_checkpoint(copy_path)
    for field in ("state_dict", "masks", "pruner_state"):
        a, b = getattr(original, field), getattr(copy, field)
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].dtype == b[key].dtype
            assert a[key].numpy().tobytes() == b[key].numpy().tobytes()
    assert copy.meta == original.meta


def test_same_seed_gives_identical_weights(digits_dir, tmp_path):
    paths = [tmp_path / f"{i}.pt" for i in range(2)]
    for path in paths:
        train_dense(
            data_dir=digits_dir, dataset="digits", model_name="mlp", seed=7, recipe=FAST_RECIPE, device="cpu", out=path
        )
    first, second = (load_checkpoint(p).state_dict for p in paths)
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_metric_rows_follow_the_schema(dense_mlp, digits_dir, tmp_path):
    final = _prune_chain(dense_mlp, digits_dir, tmp_path, "magnitude", "magnitude", {"min_density": 0.0})
    evaluate_checkpoint(
        checkpoint_path=final,
        data_dir=digits_dir,
        device="cpu",
        metrics_out=tmp_path / "metrics.parquet",
        layers_out=tmp_path / "layers.parquet",
    )
    metrics = pq.read_table(tmp_path / "metrics.parquet")
    layers = pq.read_table(tmp_path / "layers.parquet")
    assert metrics.schema.equals(METRIC_SCHEMA) and metrics.num_rows == 1
    assert layers.schema.equals(LAYER_SCHEMA) and layers.num_rows == 3
    row = metrics.to_pylist()[0]
    assert (row["dataset"], row["model"], row["method"], row["seed"], row["round"]) == (
        "digits",
        "mlp",
        "magnitude",
        0,
        3,
    )
    assert row["compression_ratio"] == pytest.approx(15, abs=0.01)
    assert row["sparsity"] == pytest.approx(row["target_sparsity"])
    assert row["params_nonzero"] == row["params_total"] - row["params_prunable"] + round(row["params_prunable"] / 15)
    assert row["flops_dense"] / row["flops_sparse"] == pytest.approx(15, rel=0.01)  # an MLP: FLOPs follow weights
    assert 0.5 < row["top1"] <= row["top5"] <= 1.0
    assert sum(layers.column("nonzero").to_pylist()) == round(row["params_prunable"] / 15)


def test_round_must_follow_its_predecessor(dense_mlp, digits_dir, tmp_path):
    with pytest.raises(CheckpointError, match="needs round 1"):
        prune_round(
            checkpoint_path=dense_mlp,
            data_dir=digits_dir,
            method="magnitude",
            pruner_name="magnitude",
            pruner_options={"min_density": 0.0},
            pruning=PRUNING,
            round_index=2,
            recipe=FINETUNE,
            device="cpu",
            out=tmp_path / "x.pt",
        )
    assert not (tmp_path / "x.pt").exists()


def test_digits_split_is_stratified_and_in_the_data_contract(digits_dir):
    import numpy as np

    with (
        np.load(digits_dir / "train.npz") as train,
        np.load(digits_dir / "val.npz") as val,
        np.load(digits_dir / "test.npz") as test,
    ):
        assert train["images"].dtype == np.uint8 and train["images"].shape[1:] == (1, 8, 8)
        assert len(train["labels"]) + len(val["labels"]) + len(test["labels"]) == 1797
        assert len(test["labels"]) == 450
        test_counts = np.bincount(test["labels"], minlength=10)
        all_counts = test_counts + np.bincount(train["labels"], minlength=10) + np.bincount(val["labels"], minlength=10)
        assert np.abs(test_counts - 0.25 * all_counts).max() <= 1  # stratified
        assert train["images"].max() == 255


def test_cli_reports_user_errors_without_a_traceback(dense_mlp, tmp_path, capsys):
    from weightmom.cli import main

    recipe = {"epochs": 1, "batch_size": 8, "lr": 0.1, "momentum": 0.9, "weight_decay": 0, "lr_schedule": "nope"}
    arguments = prune_args(
        tmp_path / "missing.pt",
        tmp_path,
        tmp_path / "o.pt",
        method="m",
        pruner="magnitude",
        options={"min_density": 0},
        pruning=PRUNING,
        recipe=recipe,
    )
    code = main(arguments)
    assert code == 2
    assert "lr_schedule 'nope'" in capsys.readouterr().err


def test_asking_for_a_gpu_that_is_not_there_is_a_clear_error(dense_mlp, digits_dir, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(SpecError, match="device 'cuda' asked for, but PyTorch sees no GPU"):
        evaluate_checkpoint(
            checkpoint_path=dense_mlp,
            data_dir=digits_dir,
            device="cuda",
            metrics_out=tmp_path / "m.parquet",
            layers_out=tmp_path / "l.parquet",
        )
    assert not (tmp_path / "m.parquet").exists()


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_rows_record_the_commit_and_whether_the_tree_was_dirty(digits_dir, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    _git(repo, "add", "code.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    monkeypatch.chdir(repo)
    rows = {}
    for state in ("clean", "edited"):
        if state == "edited":
            (repo / "code.py").write_text("x = 2\n")  # an uncommitted edit
        checkpoint = tmp_path / state / "checkpoint.pt"
        train_dense(
            data_dir=digits_dir,
            dataset="digits",
            model_name="mlp",
            seed=0,
            recipe={**FAST_RECIPE, "epochs": 1},
            device="cpu",
            out=checkpoint,
        )
        (repo / "code.py").write_text("x = 1\n")  # evaluation sees a clean tree: the row keeps the training's state
        evaluate_checkpoint(
            checkpoint_path=checkpoint,
            data_dir=digits_dir,
            device="cpu",
            metrics_out=tmp_path / state / "metrics.parquet",
            layers_out=tmp_path / state / "layers.parquet",
        )
        rows[state] = pq.read_table(tmp_path / state / "metrics.parquet").to_pylist()[0]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert rows["clean"]["git_commit"] == rows["edited"]["git_commit"] == head
    assert rows["clean"]["git_dirty"] is False and rows["edited"]["git_dirty"] is True


def test_outside_a_git_checkout_the_code_state_is_unknown(tmp_path, monkeypatch):
    from weightmom.provenance.record import code_state

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert code_state() == {"git_commit": "unknown", "git_dirty": None}
