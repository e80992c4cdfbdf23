"""The GPU code paths on a GPU: bf16 autocast, channels_last and torch.compile with masks,
a training job killed and resumed on the GPU, and evaluation on the GPU against the CPU.
Skipped (the reason shown) where PyTorch sees no GPU; `make gpu-check` runs them."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch

from weightmom.data.splits import load_split
from weightmom.models import build_model, prunable_parameters
from weightmom.steps.evaluate import evaluate_checkpoint
from weightmom.training.loop import train
from weightmom.training.masks import MaskEnforcer
from weightmom.training.recipe import Accelerator, Recipe

from helpers import kill_at_epoch, train_command

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(), reason="no CUDA GPU: PyTorch sees none here (make gpu-check on a GPU machine)"
    ),
]

RECIPE = Recipe(epochs=2, batch_size=64, lr=0.1, momentum=0.9, weight_decay=5e-3, lr_schedule="constant")
# A resumed GPU run is not bit-identical to an uninterrupted one (cuDNN picks kernels per
# process, and some are not deterministic); its test metrics must agree within this.
RESUME_TOP1_POINTS = 1.0
RESUME_LOSS_RELATIVE = 0.10


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_masks_stay_exactly_zero_under_bf16_autocast_and_channels_last(digits_train, compiled):
    device = torch.device("cuda")
    data = digits_train.to(device)
    torch.manual_seed(0)
    model = build_model("cnn", data.input_shape, data.num_classes).to(device)
    params = prunable_parameters(model)
    generator = torch.Generator().manual_seed(0)
    masks = {name: (torch.rand(p.shape, generator=generator) < 0.3).to(device) for name, p in params.items()}
    steps = []

    def check():
        steps.append(all(bool((p.detach()[~masks[n]] == 0).all()) for n, p in params.items()))

    speed = Accelerator(channels_last=True, bf16_autocast=True, compile=compiled)
    train(model, data, RECIPE, seed=0, accelerator=speed, enforcer=MaskEnforcer(params, masks), on_step=check)
    assert steps and all(steps)
    assert all(float(p.detach()[masks[n]].abs().sum()) > 0 for n, p in params.items())


def _train_command(data: Path, out: Path) -> list[str]:
    recipe = {
        "epochs": 40,
        "batch_size": 64,
        "lr": 0.05,
        "momentum": 0.9,
        "weight_decay": 0.0005,
        "lr_schedule": "cosine",
    }
    return train_command(
        data, out, recipe, seed=0, device="cuda", threads=2, accelerator={"channels_last": True, "bf16_autocast": True}
    )


def _test_metrics(checkpoint: Path, data: Path, device: str) -> pd.Series:
    out = checkpoint.parent / f"metrics-{device}.parquet"
    evaluate_checkpoint(
        checkpoint_path=checkpoint,
        data_dir=data,
        device=device,
        metrics_out=out,
        layers_out=checkpoint.parent / f"layers-{device}.parquet",
    )
    return pd.read_parquet(out).iloc[0]


def test_a_training_job_killed_on_the_gpu_resumes_to_the_same_metrics(digits_dir, tmp_path):
    whole = tmp_path / "whole/checkpoint.pt"
    assert subprocess.run(_train_command(digits_dir, whole), capture_output=True).returncode == 0
    killed = tmp_path / "killed/checkpoint.pt"
    kill_at_epoch(_train_command(digits_dir, killed), killed.parent / "resume.pt", 3)
    assert not killed.exists()
    rerun = subprocess.run(_train_command(digits_dir, killed), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    first_progress = re.search(r"(\d+)/40 \[", rerun.stderr)
    assert first_progress and 3 <= int(first_progress.group(1)) < 40  # it started from the saved epoch
    reference, resumed = _test_metrics(whole, digits_dir, "cuda"), _test_metrics(killed, digits_dir, "cuda")
    assert reference["top1"] > 0.8
    assert abs(resumed["top1"] - reference["top1"]) * 100 <= RESUME_TOP1_POINTS
    assert abs(resumed["loss"] - reference["loss"]) <= RESUME_LOSS_RELATIVE * reference["loss"]


def test_evaluation_on_the_gpu_agrees_with_the_cpu(dense_mlp, digits_dir):
    on_gpu, on_cpu = _test_metrics(dense_mlp, digits_dir, "cuda"), _test_metrics(dense_mlp, digits_dir, "cpu")
    test_images = len(load_split(digits_dir / "test.npz").labels)
    assert abs(on_gpu["top1"] - on_cpu["top1"]) <= 1 / test_images  # at most one image decided differently
    assert on_gpu["loss"] == pytest.approx(on_cpu["loss"], rel=1e-3)
    assert on_gpu["flops_sparse"] == on_cpu["flops_sparse"]
