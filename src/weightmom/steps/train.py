"""Step: train the dense baseline every pruning method starts from."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightmom.data.splits import Split
from weightmom.errors import SpecError
from weightmom.lineage import DENSE
from weightmom.models import build_model, prunable_parameters
from weightmom.provenance.codeversion import step_digest
from weightmom.provenance.record import dense_settings_hash
from weightmom.runtime.devices import device_kind, resolve_device
from weightmom.steps.common import (
    TrainingRun,
    check_input_fits,
    code_version,
    curve_path,
    load_train,
    load_val,
    resume_file,
    save_trained,
)
from weightmom.training import reuse
from weightmom.training.checkpoint import Checkpoint
from weightmom.training.loop import ResumeFile, Trained, momentum_buffers, train
from weightmom.training.masks import full_masks
from weightmom.training.recipe import Accelerator, Recipe

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class DenseInputs:
    """A dense run's inputs, loaded and checked: the freshly initialised network on the
    device, the data, the epochs whose weights it keeps, and how it trains."""

    run: TrainingRun
    model: nn.Module
    data: Split
    validation: Split
    snapshot_epochs: list[int]


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
    reuse_from: str | None = None,
    reuse_lock_dir: str | Path | None = None,
) -> None:
    """Train the dense baseline every pruning method starts from (resumable per epoch).

    The weights after each of `snapshot_epochs` are kept in the checkpoint for methods
    that rewind to them (lottery tickets); 0 keeps the initialisation. The per-epoch curve
    (weightmom.evaluation.curves, validated on <data_dir>/val.npz) goes to `curve_out`, by default
    curve.parquet beside the checkpoint.

    With `reuse_from` (a glob of other dense run folders), a finished run of the same
    dense settings there is copied instead of trained (weightmom.training.reuse), under a
    lock in `reuse_lock_dir` so that two experiments never train one network at once.
    """
    run_recipe = Recipe.from_dict(recipe, "dense recipe")
    speed = Accelerator.from_dict(accelerator or {})
    wanted = _snapshot_epochs(snapshot_epochs, run_recipe)
    config_hash = dense_settings_hash(dataset, model_name, seed, recipe, wanted)
    # found before the device is touched: a job that waits for another experiment's run holds no GPU
    key = reuse.dense_key(config_hash, step_digest("train"), asdict(speed), device_kind(device), Path(data_dir))
    curve = curve_path(out, curve_out)

    def train_here() -> None:
        identity = {"dataset": dataset, "model": model_name, "method": DENSE, "seed": seed, "round": 0}
        inputs = _load_dense(data_dir, identity, run_recipe, speed, wanted, config_hash, device, jobs_per_gpu, out)
        trained, snapshots, momentum = _train_dense(inputs)
        _save_dense(inputs, trained, snapshots, momentum, key, out, curve)

    if reuse_from is None:
        train_here()
        return
    if reuse_lock_dir is None:
        raise SpecError(
            "--reuse-from needs --reuse-lock-dir: a folder all the experiments share, for the lock per dense run"
        )
    with reuse.key_lock(reuse_lock_dir, key):
        for found in reuse.candidates(reuse_from, key, exclude=Path(out).parent):
            if reuse.copy_run(found, Path(out), curve, key):
                resume_file(out, config_hash).clear()
                print(
                    f"dense run {key} reused from {found}: same data, model, seed, recipe and code; nothing trained",
                    file=sys.stderr,
                )
                return
        train_here()


def _load_dense(
    data_dir: str | Path,
    identity: dict[str, Any],
    run_recipe: Recipe,
    speed: Accelerator,
    wanted: list[int],
    config_hash: str,
    device: str,
    jobs_per_gpu: int,
    out: str | Path,
) -> DenseInputs:
    """The data on the device and the network initialised from the run's seed, checked to take its images."""
    code = code_version("train")
    target = resolve_device(device, jobs_per_gpu)
    data = load_train(data_dir, target)
    validation = load_val(data_dir, target)
    torch.manual_seed(identity["seed"])
    model = build_model(identity["model"], data.input_shape, data.num_classes).to(target)
    check_input_fits(model, identity["model"], identity["dataset"], data.input_shape, target)
    resume = resume_file(out, config_hash)
    run = TrainingRun(identity, code, run_recipe, speed, device, target, data_dir, config_hash, resume, parent=None)
    return DenseInputs(run, model, data, validation, wanted)


def _train_dense(inputs: DenseInputs) -> tuple[Trained, dict[int, Tensors], Tensors]:
    """Train, keeping the weights after each wanted epoch (those of an interrupted run come
    from its resume file, the initialisation among them); the training record, the
    snapshots and the momentum buffers of the prunable weights at the end."""
    run, model = inputs.run, inputs.model
    snapshots = _resumed_snapshots(run.resume)

    def keep_snapshot(epoch: int) -> None:
        if epoch in inputs.snapshot_epochs:
            snapshots[epoch] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    if run.resume.saved is None:
        keep_snapshot(0)
    params = prunable_parameters(model)
    momentum: Tensors = {}
    trained = train(
        model,
        inputs.data,
        run.recipe,
        seed=run.identity["seed"],
        validation=inputs.validation,
        accelerator=run.accelerator,
        on_epoch=keep_snapshot,
        resume=run.resume,
        extra_state=lambda: {"snapshots": snapshots},
        on_finish=lambda opt: momentum.update(momentum_buffers(opt, params)),
        description=f"dense {run.identity['model']} seed{run.identity['seed']}",
    )
    return trained, snapshots, momentum


def _save_dense(
    inputs: DenseInputs,
    trained: Trained,
    snapshots: dict[int, Tensors],
    momentum: Tensors,
    key: str,
    out: str | Path,
    curve_out: str | Path | None,
) -> None:
    """The dense checkpoint (every weight kept), its settings (with the key another
    experiment finds it by) and its curve."""
    run, data = inputs.run, inputs.data

    def checkpoint(meta: dict[str, Any]) -> Checkpoint:
        return Checkpoint(
            model_name=run.identity["model"],
            dataset=run.identity["dataset"],
            input_shape=data.input_shape,
            num_classes=data.num_classes,
            state_dict=inputs.model.state_dict(),
            masks=full_masks(prunable_parameters(inputs.model)),
            snapshots=snapshots,
            momentum=momentum,
            meta=meta,
        )

    save_trained(
        run, {"snapshot_epochs": inputs.snapshot_epochs, "dense_key": key}, trained, 0.0, checkpoint, out, curve_out
    )


def _snapshot_epochs(snapshot_epochs: Sequence[int], recipe: Recipe) -> list[int]:
    wanted = sorted(set(snapshot_epochs))
    if wanted and not 0 <= wanted[-1] <= recipe.epochs:
        raise SpecError(f"snapshot epoch {wanted[-1]} is outside the dense run's 0..{recipe.epochs} epochs")
    return wanted


def _resumed_snapshots(resume: ResumeFile) -> dict[int, dict[str, torch.Tensor]]:
    """The snapshots an interrupted run of the same settings had kept (none without one)."""
    return dict(resume.saved.extra["snapshots"]) if resume.saved is not None else {}
