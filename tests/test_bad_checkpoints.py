"""Bad checkpoints: a clear error naming the file, never a silent load, nothing written."""

from __future__ import annotations

import pytest
import torch

from weightmom.cli import main
from weightmom.errors import CheckpointError
from weightmom.steps.data import prepare_data
from weightmom.steps.evaluate import evaluate_checkpoint
from weightmom.training.checkpoint import load_checkpoint, save_checkpoint

from helpers import FAST_RECIPE, flip_bytes_of_tensor, prune_args

PRUNING = {"target_compression": 15, "rounds": 3, "schedule": "geometric"}


def _refused(path, **expect) -> str:
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, **expect)
    return str(error.value)


def test_truncated_checkpoint(dense_mlp, tmp_path):
    broken = tmp_path / "checkpoint.pt"
    broken.write_bytes(dense_mlp.read_bytes()[:1000])
    assert _refused(broken).startswith(f"{broken}: unreadable checkpoint (truncated or corrupt?): ")


def test_empty_checkpoint(tmp_path):
    empty = tmp_path / "checkpoint.pt"
    empty.write_bytes(b"")
    assert _refused(empty).startswith(f"{empty}: unreadable checkpoint (truncated or corrupt?): ")


def test_flipped_bytes_inside_a_stored_tensor(dense_mlp, tmp_path):
    """torch.load does not check the archive's CRCs: without the stored digest these
    bytes would load silently as different weights."""
    corrupt = tmp_path / "checkpoint.pt"
    corrupt.write_bytes(dense_mlp.read_bytes())
    flip_bytes_of_tensor(corrupt, next(iter(load_checkpoint(dense_mlp).state_dict.values())))
    assert _refused(corrupt) == (
        f"{corrupt}: contents do not match the digest stored in it (corrupted on disk or in transfer); "
        "delete it and rerun to remake it"
    )


def test_missing_checkpoint(tmp_path):
    assert _refused(tmp_path / "nothere.pt") == f"{tmp_path / 'nothere.pt'}: checkpoint not found"


def test_file_that_is_not_a_weightmom_checkpoint(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    assert _refused(foreign) == f"{foreign}: not a weightmom checkpoint"


@pytest.mark.parametrize(
    "expect, message",
    [
        ({"model_name": "cnn"}, "checkpoint is for model 'mlp', expected 'cnn'"),
        ({"dataset": "cifar10"}, "checkpoint is for dataset 'digits', expected 'cifar10'"),
        ({"seed": 3}, "checkpoint is for seed 0, expected 3"),
    ],
)
def test_checkpoint_made_for_another_run(dense_mlp, expect, message):
    assert _refused(dense_mlp, **expect) == f"{dense_mlp}: {message}"


def test_masks_whose_shapes_do_not_match(dense_mlp, tmp_path):
    checkpoint = load_checkpoint(dense_mlp)
    name = next(iter(checkpoint.masks))
    shape = tuple(checkpoint.masks[name].shape)
    checkpoint.masks[name] = checkpoint.masks[name][:, :-1]
    save_checkpoint(checkpoint, tmp_path / "bad.pt")
    expected_shape = (shape[0], shape[1] - 1)
    assert _refused(tmp_path / "bad.pt") == (
        f"{tmp_path / 'bad.pt'}: mask {name!r} is torch.bool {expected_shape}, expected bool {shape}"
    )


def test_weights_of_another_architecture(dense_mlp, tmp_path):
    checkpoint = load_checkpoint(dense_mlp)
    checkpoint.model_name = "cnn"
    save_checkpoint(checkpoint, tmp_path / "relabelled.pt")
    assert _refused(tmp_path / "relabelled.pt").startswith(
        f"{tmp_path / 'relabelled.pt'}: weights do not fit model 'cnn': "
    )


def test_pruner_state_that_does_not_match_the_weights(dense_mlp, tmp_path):
    checkpoint = load_checkpoint(dense_mlp)
    name = next(iter(checkpoint.masks))
    checkpoint.pruner_state = {name: torch.zeros(3)}
    save_checkpoint(checkpoint, tmp_path / "state.pt")
    assert _refused(tmp_path / "state.pt") == (
        f"{tmp_path / 'state.pt'}: pruner state {name!r} does not match the model's prunable weights"
    )


def test_pruning_step_refuses_a_checkpoint_of_another_seed_and_writes_nothing(dense_mlp, digits_dir, tmp_path, capsys):
    out = tmp_path / "round1/checkpoint.pt"
    code = main(
        [
            *prune_args(
                dense_mlp,
                digits_dir,
                out,
                pruner="magnitude",
                options={"min_density": 0},
                pruning=PRUNING,
                recipe=FAST_RECIPE,
            ),
            "--expect-dataset",
            "digits",
            "--expect-model",
            "mlp",
            "--expect-seed",
            "1",
        ]
    )
    assert code == 2
    assert capsys.readouterr().err == f"weightmom prune: error: {dense_mlp}: checkpoint is for seed 0, expected 1\n"
    assert not out.parent.exists()


def _evaluate_args(checkpoint, data_dir, tmp_path) -> list[str]:
    """`weightmom evaluate` of `checkpoint` on the CPU, its rows into `tmp_path`."""
    return [
        "evaluate",
        "--checkpoint",
        str(checkpoint),
        "--data",
        str(data_dir),
        "--threads",
        "1",
        "--device",
        "cpu",
        "--metrics-out",
        str(tmp_path / "m.parquet"),
        "--layers-out",
        str(tmp_path / "l.parquet"),
    ]


def test_evaluation_refuses_a_checkpoint_of_another_dataset_and_writes_nothing(dense_mlp, digits_dir, tmp_path, capsys):
    code = main([*_evaluate_args(dense_mlp, digits_dir, tmp_path), "--expect-dataset", "other_digits"])
    assert code == 2
    assert "checkpoint is for dataset 'digits', expected 'other_digits'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_evaluation_refuses_a_checkpoint_built_for_other_inputs(dense_mlp, tmp_path):
    other = tmp_path / "data"
    prepare_data({"source": "digits", "test_fraction": 0.25, "split_seed": 0}, tmp_path / "raw", other)
    import numpy as np

    with np.load(other / "test.npz") as arrays:
        content = dict(arrays)
    content["images"] = np.zeros((len(content["labels"]), 3, 8, 8), np.uint8)
    np.savez(other / "test.npz", **content)
    with pytest.raises(CheckpointError) as error:
        evaluate_checkpoint(
            checkpoint_path=dense_mlp,
            data_dir=other,
            device="cpu",
            metrics_out=tmp_path / "m.parquet",
            layers_out=tmp_path / "l.parquet",
        )
    assert str(error.value) == (
        f"{dense_mlp}: built for inputs (1, 8, 8) and 10 classes, {other} has (3, 8, 8) and 10 classes"
    )
    assert not (tmp_path / "m.parquet").exists()


def test_evaluation_refuses_a_checkpoint_of_another_round_or_method(dense_mlp, digits_dir, tmp_path, capsys):
    """A round-1 checkpoint copied over round 2 would otherwise give round 2 a round-1 row."""
    for flags, message in (
        (["--expect-method", "magnitude"], "checkpoint is for method 'dense', expected 'magnitude'"),
        (["--expect-round", "2"], "checkpoint is for round 0, expected 2"),
    ):
        code = main([*_evaluate_args(dense_mlp, digits_dir, tmp_path), *flags])
        assert code == 2
        assert capsys.readouterr().err == f"weightmom evaluate: error: {dense_mlp}: {message}\n"
    assert list(tmp_path.iterdir()) == []
