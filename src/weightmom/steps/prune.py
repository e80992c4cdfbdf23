"""Step: one pruning round (prune round r-1's checkpoint, then fine-tune)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightmom.data.splits import Split
from weightmom.errors import CheckpointError, SpecError
from weightmom.lineage import DENSE
from weightmom.models import prunable_parameters
from weightmom.provenance.record import settings_hash
from weightmom.pruning import Pruner, ScoringContext, TrainingBatches, build_pruner, with_defaults
from weightmom.pruning.schedule import keep_counts
from weightmom.runtime.devices import resolve_device
from weightmom.steps.common import (
    TrainingRun,
    code_version,
    load_train,
    load_val,
    resume_file,
    save_trained,
)
from weightmom.training.checkpoint import Checkpoint, load_checkpoint
from weightmom.training.loop import ResumeFile, Trained, momentum_buffers, train
from weightmom.training.masks import MaskEnforcer, collapsed_layers, count_total
from weightmom.training.recipe import Accelerator, Recipe

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class RoundSpec:
    """What a round is, as configured: the method and its pruner, the pruning schedule, the
    round's index and the recipes. All of it goes into the round's settings hash."""

    method: str
    pruner_name: str
    pruner_options: Mapping[str, Any]
    pruning: Mapping[str, Any]
    round_index: int
    recipe: Mapping[str, Any]
    dense_recipe: Mapping[str, Any] | None

    def config(self) -> dict[str, Any]:
        """What the settings hash is taken over (with the parent's hash)."""
        return {
            "method": self.method,
            "pruner": self.pruner_name,
            "options": dict(self.pruner_options),
            "pruning": dict(self.pruning),
            "round": self.round_index,
            "recipe": dict(self.recipe),
            "dense_recipe": dict(self.dense_recipe or {}),
        }


@dataclass(frozen=True)
class RoundInputs:
    """A round's inputs, loaded and checked: round r-1's checkpoint and its network on the
    device, the method, the data, the number of weights each round keeps, and how the
    round fine-tunes."""

    spec: RoundSpec
    run: TrainingRun
    pruner: Pruner
    learning_rate: Callable[[int], float] | None
    previous: Checkpoint
    model: nn.Module
    data: Split
    validation: Split
    schedule: str
    keep: list[int]

    @property
    def seed(self) -> int:
        """The seed the round prunes and fine-tunes with: one per run seed and round."""
        return int(self.previous.meta["seed"]) * 1000 + self.spec.round_index


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
    made for. The fine-tuning curve (weightmom.evaluation.curves, validated on <data_dir>/val.npz) goes
    to `curve_out`, by default curve.parquet beside the checkpoint.
    """
    spec = RoundSpec(method, pruner_name, pruner_options, pruning, round_index, recipe, dense_recipe)
    inputs = _load_round(
        spec, checkpoint_path, dense_checkpoint_path, data_dir, accelerator, device, jobs_per_gpu, out, expect
    )
    masks, state = _round_masks(inputs, dense_checkpoint_path)
    _warn_collapsed(inputs.run.identity, masks)
    trained, momentum = _fine_tune(inputs, masks, state)
    _save_round(inputs, masks, state, trained, momentum, out, curve_out)


def _load_round(
    spec: RoundSpec,
    checkpoint_path: str | Path,
    dense_checkpoint_path: str | Path | None,
    data_dir: str | Path,
    accelerator: Mapping[str, Any] | None,
    device: str,
    jobs_per_gpu: int,
    out: str | Path,
    expect: Mapping[str, Any] | None,
) -> RoundInputs:
    """The method, round r-1's checkpoint (checked) and its network and the data on the device."""
    code = code_version("prune", spec.pruner_name)
    run_recipe = Recipe.from_dict(spec.recipe, "fine-tuning recipe")
    speed = Accelerator.from_dict(accelerator or {})
    pruner = build_pruner(spec.pruner_name, spec.pruner_options)
    learning_rate = _learning_rate(pruner, spec.dense_recipe, run_recipe)
    previous = _load_previous(checkpoint_path, spec.method, spec.round_index, expect)
    target = resolve_device(device, jobs_per_gpu)
    data, validation = load_train(data_dir, target), load_val(data_dir, target)
    model = previous.build(target)
    config_hash = settings_hash(spec.config(), previous.meta["config_hash"])
    resume = resume_file(out, config_hash)
    schedule = pruner.schedule or spec.pruning["schedule"]
    total = count_total(previous.masks)
    pruning = spec.pruning
    keep = keep_counts(total, pruning["target_compression"], pruning["rounds"], schedule, pruning.get("sweep"))
    if spec.round_index >= len(keep):
        raise SpecError(f"round {spec.round_index} is past the last round ({len(keep) - 1}) of the pruning settings")
    identity = {
        "dataset": previous.dataset,
        "model": previous.model_name,
        "method": spec.method,
        "seed": int(previous.meta["seed"]),
        "round": spec.round_index,
    }
    parent = _lineage(checkpoint_path, previous, dense_checkpoint_path)
    run = TrainingRun(identity, code, run_recipe, speed, device, target, data_dir, config_hash, resume, parent)
    return RoundInputs(spec, run, pruner, learning_rate, previous, model, data, validation, schedule, keep)


def _round_masks(inputs: RoundInputs, dense_checkpoint_path: str | Path | None) -> tuple[Tensors, Tensors]:
    """The round's masks and pruner state: those of an interrupted run of the same settings,
    else pruned now (and the weights rewound, for methods that rewind them)."""
    resume, target, pruner = inputs.run.resume, inputs.run.device, inputs.pruner
    if resume.saved is not None:
        return _resumed_masks_and_state(resume, target)
    previous, model = inputs.previous, inputs.model
    state = {name: s.to(target) for name, s in previous.pruner_state.items()}
    state = state or pruner.init_state(prunable_parameters(model))
    keep = inputs.keep[inputs.spec.round_index]
    masks = _prune_masks(pruner, model, previous, state, keep, inputs.data, inputs.run.recipe, inputs.seed)
    if pruner.snapshot_epochs():
        _rewind(pruner, inputs.spec.pruner_name, model, previous, dense_checkpoint_path)
    return masks, state


def _warn_collapsed(identity: Mapping[str, Any], masks: Tensors) -> None:
    """Say in the job's log (stderr) which layers the round's masks leave with no weights.
    A method can prune a layer away (a user's scores that rank one layer below the rest,
    under a global allocation); the network then scores chance and, without this line,
    nothing says why. The round goes on: its metric row counts the layers (collapsed_layers)."""
    for name, size in collapsed_layers(masks).items():
        print(
            f"warning: {identity['method']} round {identity['round']}: layer {name}: 0 of {size} weights kept; "
            "the network cannot pass signal through it (a min_density option keeps a share of every layer)",
            file=sys.stderr,
        )


def _save_round(
    inputs: RoundInputs,
    masks: Tensors,
    state: Tensors,
    trained: Trained,
    momentum: Tensors,
    out: str | Path,
    curve_out: str | Path | None,
) -> None:
    """The round's checkpoint (round r-1's network with the new weights, masks, pruner state
    and momentum), its settings and its curve."""
    spec, keep = inputs.spec, inputs.keep
    settings = {
        "pruner": spec.pruner_name,
        "pruner_options": with_defaults(spec.pruner_name, spec.pruner_options),
        "pruning": {**spec.pruning, "schedule": inputs.schedule},
        "dense_recipe": spec.dense_recipe,
    }
    save_trained(
        inputs.run,
        settings,
        trained,
        1.0 - keep[spec.round_index] / keep[0],
        lambda meta: inputs.previous.successor(inputs.model.state_dict(), masks, state, momentum, meta),
        out,
        curve_out,
    )


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


def _fine_tune(inputs: RoundInputs, masks: Tensors, state: Tensors) -> tuple[Trained, Tensors]:
    """Fine-tune with the masks enforced, the pruner observing at its granularity; the
    training record and the momentum buffers of the prunable weights at the end."""
    pruner, run = inputs.pruner, inputs.run
    params = prunable_parameters(inputs.model)

    def observe(*_: int) -> None:
        pruner.observe(params, state)

    momentum: Tensors = {}
    trained = train(
        inputs.model,
        inputs.data,
        run.recipe,
        seed=inputs.seed,
        validation=inputs.validation,
        accelerator=run.accelerator,
        enforcer=MaskEnforcer(params, masks),
        on_step=observe if pruner.granularity == "step" else None,
        on_epoch=observe if pruner.granularity == "epoch" else None,
        learning_rate=inputs.learning_rate,
        resume=run.resume,
        extra_state=lambda: {"masks": masks, "pruner_state": state},
        on_finish=lambda opt: momentum.update(momentum_buffers(opt, params)),
        description=f"{run.identity['method']} round{run.identity['round']} {run.identity['model']} seed{run.identity['seed']}",
    )
    return trained, momentum
