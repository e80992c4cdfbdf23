"""The trainer: batched augmentation, schedules, determinism, and resuming after SIGKILL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from weightmom.training.augment import augment_batch
from weightmom.training.checkpoint import load_checkpoint
from weightmom.training.loop import lr_factor
from weightmom.training.recipe import Augment, Recipe

from helpers import (
    FAST_RECIPE,
    RESUME_RECIPE,
    check_sensible_curve,
    flip_bytes_of_tensor,
    kill_at_epoch,
    prune_args,
    train_command,
)


def test_random_crop_and_flip_match_a_per_image_reference():
    images = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    augment = Augment(crop_padding=2, horizontal_flip=True)
    out = augment_batch(images, augment, torch.Generator().manual_seed(3))
    reference_draws = torch.Generator().manual_seed(3)
    offset_y = torch.randint(0, 5, (16,), generator=reference_draws)
    offset_x = torch.randint(0, 5, (16,), generator=reference_draws)
    flip = torch.rand(16, generator=reference_draws) < 0.5
    padded = F.pad(images, (2, 2, 2, 2))
    for i in range(16):
        crop = padded[i, :, offset_y[i] : offset_y[i] + 8, offset_x[i] : offset_x[i] + 8]
        assert torch.equal(out[i], crop.flip(2) if flip[i] else crop)
    assert out.dtype == torch.uint8 and 0 < int(flip.sum()) < 16


def test_no_augmentation_is_the_identity():
    images = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    assert torch.equal(augment_batch(images, Augment(), torch.Generator()), images)


def test_learning_rate_schedules():
    base = dict(FAST_RECIPE, epochs=100)
    step = Recipe.from_dict({**base, "lr_schedule": "step", "lr_milestones": [0.5, 0.75], "lr_gamma": 0.1})
    assert [lr_factor(step, e) for e in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    cosine = Recipe.from_dict({**base, "lr_schedule": "cosine"})
    assert lr_factor(cosine, 0) == 1 and lr_factor(cosine, 50) == pytest.approx(0.5)


def _command(data_dir: Path, out: Path, epochs: int) -> list[str]:
    return train_command(data_dir, out, {**RESUME_RECIPE, "epochs": epochs})


@pytest.mark.slow
def test_killed_training_resumes_to_the_same_weights_and_curve(digits_dir, tmp_path):
    """The kill-and-resume check of a training process alone (test_faults has the one through
    Snakemake): the same weights as an uninterrupted run, and one curve row per epoch."""
    epochs = RESUME_RECIPE["epochs"]
    reference = tmp_path / "reference/checkpoint.pt"
    subprocess.run(_command(digits_dir, reference, epochs), check=True, stderr=subprocess.DEVNULL)

    out = tmp_path / "killed/checkpoint.pt"
    resume = out.parent / "resume.pt"
    kill_at_epoch(_command(digits_dir, out, epochs), resume, 3)
    assert not out.exists() and resume.exists()
    saved = torch.load(resume, weights_only=True)
    killed_at = saved["epoch"]
    assert 3 <= killed_at < epochs
    assert not [p for p in out.parent.iterdir() if p.name not in {"resume.pt"} and not p.name.startswith(".tmp-")]
    assert not (out.parent / "curve.parquet").exists()  # written whole at the end, with the checkpoint
    assert [record["epoch"] for record in saved["curve"]] == list(range(1, killed_at + 1))

    result = subprocess.run(_command(digits_dir, out, epochs), capture_output=True, text=True, check=True)
    assert "starting over" not in result.stderr
    assert not resume.exists()
    first, second = load_checkpoint(reference), load_checkpoint(out)
    assert first.state_dict.keys() == second.state_dict.keys()
    for key in first.state_dict:
        assert torch.equal(first.state_dict[key], second.state_dict[key]), key

    curve = pd.read_parquet(out.parent / "curve.parquet")
    check_sensible_curve(curve, epochs)
    # the epochs before the kill are the killed job's own records, kept in the resume file ...
    assert curve["seconds"].iloc[:killed_at].tolist() == [record["seconds"] for record in saved["curve"]]
    # ... and the whole curve is an uninterrupted run's (resuming gives the same weights)
    expected = pd.read_parquet(reference.parent / "curve.parquet")
    pd.testing.assert_frame_equal(curve.drop(columns="seconds"), expected.drop(columns="seconds"))


@pytest.mark.slow
def test_resume_state_of_other_settings_is_ignored(digits_dir, tmp_path):
    out = tmp_path / "run/checkpoint.pt"
    resume = out.parent / "resume.pt"
    kill_at_epoch(_command(digits_dir, out, 8), resume, 2)
    result = subprocess.run(_command(digits_dir, out, 3), capture_output=True, text=True, check=True)
    assert "resume state of other settings; starting over" in result.stderr
    assert load_checkpoint(out).meta["train_seconds"] > 0


def _first_tensor(value):
    if isinstance(value, torch.Tensor) and value.numel() >= 64:
        return value
    children = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
    return next((t for t in map(_first_tensor, children) if t is not None), None)


@pytest.mark.slow
def test_corrupted_resume_state_is_ignored(digits_dir, tmp_path):
    out = tmp_path / "run/checkpoint.pt"
    resume = out.parent / "resume.pt"
    kill_at_epoch(_command(digits_dir, out, 8), resume, 2)
    flip_bytes_of_tensor(resume, _first_tensor(torch.load(resume, weights_only=True)))
    result = subprocess.run(_command(digits_dir, out, 8), capture_output=True, text=True, check=True)
    assert f"{resume}: corrupted resume state (digest mismatch); starting over" in result.stderr
    assert load_checkpoint(out).meta["train_seconds"] > 0


@pytest.mark.slow
def test_killed_pruning_round_resumes_with_the_same_masks_scores_and_weights(dense_mlp, digits_dir, tmp_path):
    def command(out: Path) -> list[str]:
        options = {
            "score": "momentum",
            "allocation": "levelling",
            "beta": 0.7,
            "granularity": "epoch",
            "min_density": 0.02,
        }
        pruning = {"target_compression": 15, "rounds": 2, "schedule": "geometric"}
        recipe = {**FAST_RECIPE, "epochs": 40}
        arguments = prune_args(
            dense_mlp, digits_dir, out, pruner="weightmom", options=options, pruning=pruning, recipe=recipe
        )
        return [sys.executable, "-m", "weightmom", *arguments]

    reference = tmp_path / "reference/checkpoint.pt"
    subprocess.run(command(reference), check=True, stderr=subprocess.DEVNULL)
    out = tmp_path / "killed/checkpoint.pt"
    kill_at_epoch(command(out), out.parent / "resume.pt", 5)
    assert not out.exists()
    subprocess.run(command(out), check=True, stderr=subprocess.DEVNULL)
    first, second = load_checkpoint(reference), load_checkpoint(out)
    for field in ("state_dict", "masks", "pruner_state"):
        a, b = getattr(first, field), getattr(second, field)
        assert all(torch.equal(a[k], b[k]) for k in a), field
