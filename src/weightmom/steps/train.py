"""Step: train the dense baseline every pruning method starts from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from weightmom.checkpoint import Checkpoint
from weightmom.curves import write_curve
from weightmom.devices import resolve_device
from weightmom.errors import SpecError
from weightmom.lineage import DENSE
from weightmom.masks import full_masks
from weightmom.models import build_model, prunable_parameters
from weightmom.provenance import settings_hash
from weightmom.recipe import Accelerator, Recipe
from weightmom.steps.common import (
    check_input_fits,
    checkpoint_meta,
    code_version,
    curve_path,
    load_train,
    load_val,
    resume_file,
    run_settings,
    save_result,
)
from weightmom.training import ResumeFile, momentum_buffers, train


def train_dense(
    *,
    data_dir: str | Path,
    dataset: str,
    model_name: str,
    seed: int,
    recipe: Mapping[str, Any],
    snapshot_epochs: Sequence[int] = (),
    accelerator: Mapping[str, Any] | None = None,
    device: str,
    jobs_per_gpu: int = 1,
    out: str | Path,
    curve_out: str | Path | None = None,
) -> None:
    """Train the dense baseline every pruning method starts from (resumable per epoch).

    The weights after each of `snapshot_epochs` are kept in the checkpoint for methods
    that rewind to them (lottery tickets); 0 keeps the initialisation. The per-epoch curve
    (weightmom.curves, validated on <data_dir>/val.npz) goes to `curve_out`, by default
    curve.parquet beside the checkpoint.
    """
    code = code_version("train")
    run_recipe = Recipe.from_dict(recipe, "dense recipe")
    speed = Accelerator.from_dict(accelerator or {})
    target = resolve_device(device, jobs_per_gpu)
    data = load_train(data_dir, target)
    validation = load_val(data_dir, target)
    torch.manual_seed(seed)
    model = build_model(model_name, data.input_shape, data.num_classes).to(target)
    check_input_fits(model, model_name, dataset, data.input_shape, target)
    wanted = _snapshot_epochs(snapshot_epochs, run_recipe)
    config_hash = settings_hash(
        {"dataset": dataset, "model": model_name, "seed": seed, "recipe": dict(recipe), "snapshots": wanted}
    )
    resume = resume_file(out, config_hash)
    snapshots = _resumed_snapshots(resume)

    def keep_snapshot(epoch: int) -> None:
        if epoch in wanted:
            snapshots[epoch] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    if resume.saved is None:
        keep_snapshot(0)
    params = prunable_parameters(model)
    momentum: dict[str, torch.Tensor] = {}
    trained = train(
        model,
        data,
        run_recipe,
        seed=seed,
        validation=validation,
        accelerator=speed,
        on_epoch=keep_snapshot,
        resume=resume,
        extra_state=lambda: {"snapshots": snapshots},
        on_finish=lambda opt: momentum.update(momentum_buffers(opt, params)),
        description=f"dense {model_name} seed{seed}",
    )
    identity = {"dataset": dataset, "model": model_name, "method": DENSE, "seed": seed, "round": 0}
    settings = {
        **identity,
        "data": str(data_dir),
        "snapshot_epochs": wanted,
        **run_settings(run_recipe, speed, device, target, code),
        "config_hash": config_hash,
        "parent": None,
    }
    # The curve before the checkpoint: a checkpoint under its final name means both are there.
    write_curve(identity, trained.curve, curve_path(out, curve_out))
    meta = checkpoint_meta(identity, 0.0, trained.seconds, config_hash, target, code, settings)
    save_result(
        Checkpoint(
            model_name=model_name,
            dataset=dataset,
            input_shape=data.input_shape,
            num_classes=data.num_classes,
            state_dict=model.state_dict(),
            masks=full_masks(params),
            snapshots=snapshots,
            momentum=momentum,
            meta=meta,
        ),
        out,
    )
    resume.clear()


def _snapshot_epochs(snapshot_epochs: Sequence[int], recipe: Recipe) -> list[int]:
    wanted = sorted(set(snapshot_epochs))
    if wanted and not 0 <= wanted[-1] <= recipe.epochs:
        raise SpecError(f"snapshot epoch {wanted[-1]} is outside the dense run's 0..{recipe.epochs} epochs")
    return wanted


def _resumed_snapshots(resume: ResumeFile) -> dict[int, dict[str, torch.Tensor]]:
    """The snapshots an interrupted run of the same settings had kept (none without one)."""
    return dict(resume.saved.extra["snapshots"]) if resume.saved is not None else {}
