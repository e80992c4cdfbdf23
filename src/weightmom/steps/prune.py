"""Step: one pruning round (prune round r-1's checkpoint, then fine-tune)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightmom.checkpoint import Checkpoint, load_checkpoint
from weightmom.curves import write_curve
from weightmom.devices import resolve_device
from weightmom.errors import CheckpointError, SpecError
from weightmom.lineage import DENSE
from weightmom.masks import MaskEnforcer, count_total
from weightmom.models import prunable_parameters
from weightmom.provenance import settings_hash
from weightmom.pruning import Pruner, ScoringContext, TrainingBatches, build_pruner, with_defaults
from weightmom.pruning.schedule import keep_counts
from weightmom.recipe import Accelerator, Recipe
from weightmom.splits import Split
from weightmom.steps.common import (
    checkpoint_meta,
    code_version,
    curve_path,
    load_train,
    load_val,
    resume_file,
    run_settings,
    save_result,
)
from weightmom.training import ResumeFile, Trained, momentum_buffers, train

Tensors = dict[str, torch.Tensor]


def prune_round(
    *,
    checkpoint_path: str | Path,
    data_dir: str | Path,
    method: str,
    pruner_name: str,
    pruner_options: Mapping[str, Any],
    pruning: Mapping[str, Any],
    round_index: int,
    recipe: Mapping[str, Any],
    dense_checkpoint_path: str | Path | None = None,
    dense_recipe: Mapping[str, Any] | None = None,
    accelerator: Mapping[str, Any] | None = None,
    device: str,
    jobs_per_gpu: int = 1,
    out: str | Path,
    curve_out: str | Path | None = None,
    expect: Mapping[str, Any] | None = None,
) -> None:
    """Round r from round r-1: update scores, prune to the schedule's count, fine-tune.

    The dense checkpoint and recipe are needed by methods that rewind weights or the
    learning rate. Resumable: a restarted job takes the masks and scores of its
    interrupted self and continues fine-tuning from the last finished epoch. `expect`
    (load_checkpoint's model_name, dataset, seed, ...) is what the checkpoint must have been
    made for. The fine-tuning curve (weightmom.curves, validated on <data_dir>/val.npz) goes
    to `curve_out`, by default curve.parquet beside the checkpoint.
    """
    code = code_version("prune", pruner_name)
    run_recipe = Recipe.from_dict(recipe, "fine-tuning recipe")
    speed = Accelerator.from_dict(accelerator or {})
    pruner = build_pruner(pruner_name, pruner_options)
    learning_rate = _learning_rate(pruner, dense_recipe, run_recipe)
    previous = _load_previous(checkpoint_path, method, round_index, expect)
    target = resolve_device(device, jobs_per_gpu)
    seed = int(previous.meta["seed"])
    data, validation = load_train(data_dir, target), load_val(data_dir, target)
    model = previous.build(target)
    params = prunable_parameters(model)
    round_config = {
        "method": method,
        "pruner": pruner_name,
        "options": dict(pruner_options),
        "pruning": dict(pruning),
        "round": round_index,
        "recipe": dict(recipe),
        "dense_recipe": dict(dense_recipe or {}),
    }
    config_hash = settings_hash(round_config, previous.meta["config_hash"])
    resume = resume_file(out, config_hash)
    schedule = pruner.schedule or pruning["schedule"]
    keep = keep_counts(count_total(previous.masks), pruning["target_compression"], pruning["rounds"], schedule)
    if resume.saved is not None:
        masks, state = _resumed_masks_and_state(resume, target)
    else:
        state = {name: s.to(target) for name, s in previous.pruner_state.items()} or pruner.init_state(params)
        masks = _prune_masks(
            pruner, model, previous, state, keep[round_index], data, run_recipe, seed * 1000 + round_index
        )
        if pruner.snapshot_epochs():
            _rewind(pruner, pruner_name, model, previous, dense_checkpoint_path)
    trained, momentum = _fine_tune(
        pruner,
        model,
        params,
        masks,
        state,
        data,
        validation,
        run_recipe,
        speed,
        learning_rate,
        resume,
        seed=seed * 1000 + round_index,
        description=f"{method} round{round_index} {previous.model_name} seed{seed}",
    )
    identity = {
        "dataset": previous.dataset,
        "model": previous.model_name,
        "method": method,
        "seed": seed,
        "round": round_index,
    }
    settings = {
        **identity,
        "data": str(data_dir),
        "pruner": pruner_name,
        "pruner_options": with_defaults(pruner_name, pruner_options),
        "pruning": {**pruning, "schedule": schedule},
        "dense_recipe": dense_recipe,
        **run_settings(run_recipe, speed, device, target, code),
        "config_hash": config_hash,
        "parent": _lineage(checkpoint_path, previous, dense_checkpoint_path),
    }
    # The curve before the checkpoint: a checkpoint under its final name means both are there.
    write_curve(identity, trained.curve, curve_path(out, curve_out))
    meta = checkpoint_meta(
        identity, 1.0 - keep[round_index] / keep[0], trained.seconds, config_hash, target, code, settings
    )
    save_result(previous.successor(model.state_dict(), masks, state, momentum, meta), out)
    resume.clear()


def _learning_rate(
    pruner: Pruner, dense_recipe: Mapping[str, Any] | None, recipe: Recipe
) -> Callable[[int], float] | None:
    """The method's own fine-tuning learning rates (those that rewind it; they need the dense recipe)."""
    if dense_recipe is None:
        return None
    return pruner.learning_rate(Recipe.from_dict(dense_recipe, "dense recipe"), recipe)


def _lineage(
    checkpoint_path: str | Path, previous: Checkpoint, dense_checkpoint_path: str | Path | None
) -> dict[str, Any]:
    """Where a round came from: its parent checkpoint (and the dense one, for methods that rewind)."""
    return {
        "checkpoint": str(checkpoint_path),
        "config_hash": previous.meta["config_hash"],
        "dense_checkpoint": None if dense_checkpoint_path is None else str(dense_checkpoint_path),
    }


def _load_previous(
    checkpoint_path: str | Path, method: str, round_index: int, expect: Mapping[str, Any] | None
) -> Checkpoint:
    """Round r-1's checkpoint (the dense one for round 1), checked against what it must have been made for."""
    previous = load_checkpoint(checkpoint_path, **(expect or {}))
    expected_method = DENSE if round_index == 1 else method
    if previous.meta.get("round") != round_index - 1 or previous.meta.get("method") != expected_method:
        raise CheckpointError(
            f"{checkpoint_path}: is round {previous.meta.get('round')} of {previous.meta.get('method')!r}, "
            f"round {round_index} of {method!r} needs round {round_index - 1} of {expected_method!r}"
        )
    return previous


def _resumed_masks_and_state(resume: ResumeFile, target: torch.device) -> tuple[Tensors, Tensors]:
    """The masks and pruner state an interrupted run of the same settings had pruned to."""
    extra = resume.saved.extra
    masks = {name: mask.to(target) for name, mask in extra["masks"].items()}
    state = {name: s.to(target) for name, s in extra["pruner_state"].items()}
    return masks, state


def _prune_masks(
    pruner: Pruner,
    model: nn.Module,
    previous: Checkpoint,
    state: Tensors,
    keep: int,
    data: Split,
    recipe: Recipe,
    seed: int,
) -> Tensors:
    """The round's masks: the previous round's, pruned by the method to `keep` weights. The
    method sees round r-1's network and masks, the SGD momentum buffers its training ended
    with, and training batches at the fine-tuning batch size, all seeded by `seed` (the seed
    the round's fine-tuning trains with)."""
    params = prunable_parameters(model)
    target = next(iter(params.values())).device
    masks = {name: mask.to(target) for name, mask in previous.masks.items()}
    if pruner.granularity == "round":
        pruner.observe(params, state)
    context = ScoringContext(
        params=params,
        masks=masks,
        state=state,
        generator=torch.Generator().manual_seed(seed),
        momentum=previous.momentum,
        network=model,
        training=TrainingBatches(data, recipe.batch_size, seed),
    )
    return pruner.prune(context, keep)


def _rewind(
    pruner: Pruner, pruner_name: str, model: nn.Module, previous: Checkpoint, dense_checkpoint_path: str | Path | None
) -> None:
    """Set the weights back to the dense run's snapshot, for methods that rewind them."""
    if dense_checkpoint_path is None:
        raise SpecError(f"pruner {pruner_name!r} rewinds weights: give the dense checkpoint")
    dense = load_checkpoint(
        dense_checkpoint_path, model_name=previous.model_name, dataset=previous.dataset, seed=int(previous.meta["seed"])
    )
    pruner.rewind(model, dense.snapshots)


def _fine_tune(
    pruner: Pruner,
    model: nn.Module,
    params: dict[str, nn.Parameter],
    masks: Tensors,
    state: Tensors,
    data: Split,
    validation: Split,
    recipe: Recipe,
    speed: Accelerator,
    learning_rate: Callable[[int], float] | None,
    resume: ResumeFile,
    *,
    seed: int,
    description: str,
) -> tuple[Trained, Tensors]:
    """Fine-tune with the masks enforced, the pruner observing at its granularity; the
    training record and the momentum buffers of the prunable weights at the end."""

    def observe(*_: int) -> None:
        pruner.observe(params, state)

    momentum: Tensors = {}
    trained = train(
        model,
        data,
        recipe,
        seed=seed,
        validation=validation,
        accelerator=speed,
        enforcer=MaskEnforcer(params, masks),
        on_step=observe if pruner.granularity == "step" else None,
        on_epoch=observe if pruner.granularity == "epoch" else None,
        learning_rate=learning_rate,
        resume=resume,
        extra_state=lambda: {"masks": masks, "pruner_state": state},
        on_finish=lambda opt: momentum.update(momentum_buffers(opt, params)),
        description=description,
    )
    return trained, momentum
