"""Step: one pruning round (prune round r-1's checkpoint, then fine-tune)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from weightmom.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from weightmom.curves import write_curve
from weightmom.errors import CheckpointError, SpecError
from weightmom.masks import MaskEnforcer, count_total
from weightmom.lineage import DENSE
from weightmom.models import prunable_parameters
from weightmom.provenance import code_state, settings_hash
from weightmom.pruning import ScoringContext, TrainingBatches, build_pruner
from weightmom.pruning.schedule import keep_counts
from weightmom.recipe import Accelerator, Recipe
from weightmom.splits import Split
from weightmom.steps.common import curve_path, load_train, load_val, resume_file
from weightmom.devices import describe_device, resolve_device
from weightmom.training import momentum_buffers, train


def scoring_context(
    model: torch.nn.Module, masks: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor],
    momentum: Mapping[str, torch.Tensor], data: Split, recipe: Recipe, run_seed: int,
) -> ScoringContext:
    """What the pruner sees in a round: round r-1's network and masks, the SGD momentum
    buffers its training ended with, and training batches at the fine-tuning batch size,
    all seeded by the round's `run_seed` (the seed its fine-tuning trains with)."""
    return ScoringContext(
        params=prunable_parameters(model), masks=masks, state=state, generator=torch.Generator().manual_seed(run_seed),
        momentum=momentum, network=model, training=TrainingBatches(data, recipe.batch_size, run_seed),
    )


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
    code = code_state()  # now: the code that runs, not what the tree holds when training ends
    run_recipe = Recipe.from_dict(recipe, "fine-tuning recipe")
    speed = Accelerator.from_dict(accelerator or {})
    pruner = build_pruner(pruner_name, pruner_options)
    learning_rate = None
    if dense_recipe is not None:
        learning_rate = pruner.learning_rate(Recipe.from_dict(dense_recipe, "dense recipe"), run_recipe)
    previous = load_checkpoint(checkpoint_path, **(expect or {}))
    expected_method = DENSE if round_index == 1 else method
    if previous.meta.get("round") != round_index - 1 or previous.meta.get("method") != expected_method:
        raise CheckpointError(
            f"{checkpoint_path}: is round {previous.meta.get('round')} of {previous.meta.get('method')!r}, "
            f"round {round_index} of {method!r} needs round {round_index - 1} of {expected_method!r}"
        )
    target = resolve_device(device, jobs_per_gpu)
    seed = int(previous.meta["seed"])
    data = load_train(data_dir, target)
    validation = load_val(data_dir, target)
    model = previous.build(target)
    params = prunable_parameters(model)
    settings = {
        "method": method, "pruner": pruner_name, "options": dict(pruner_options), "pruning": dict(pruning),
        "round": round_index, "recipe": dict(recipe), "dense_recipe": dict(dense_recipe or {}),
    }
    config_hash = settings_hash(settings, previous.meta["config_hash"])
    resume = resume_file(out, config_hash)
    saved = resume.load()
    schedule = pruner.schedule or pruning["schedule"]
    keep = keep_counts(count_total(previous.masks), pruning["target_compression"], pruning["rounds"], schedule)
    if saved is not None:
        masks = {name: mask.to(target) for name, mask in saved["extra"]["masks"].items()}
        state = {name: s.to(target) for name, s in saved["extra"]["pruner_state"].items()}
    else:
        masks = {name: mask.to(target) for name, mask in previous.masks.items()}
        state = {name: s.to(target) for name, s in previous.pruner_state.items()} or pruner.init_state(params)
        if pruner.granularity == "round":
            pruner.observe(params, state)
        context = scoring_context(model, masks, state, previous.momentum, data, run_recipe, seed * 1000 + round_index)
        masks = pruner.prune(context, keep[round_index])
        if pruner.snapshot_epochs():
            if dense_checkpoint_path is None:
                raise SpecError(f"pruner {pruner_name!r} rewinds weights: give the dense checkpoint")
            dense = load_checkpoint(dense_checkpoint_path, model_name=previous.model_name, dataset=previous.dataset, seed=seed)
            pruner.rewind(model, dense.snapshots)

    def observe(*_: int) -> None:
        pruner.observe(params, state)

    momentum: dict[str, torch.Tensor] = {}

    trained = train(
        model,
        data,
        run_recipe,
        seed=seed * 1000 + round_index,
        validation=validation,
        accelerator=speed,
        enforcer=MaskEnforcer(params, masks),
        on_step=observe if pruner.granularity == "step" else None,
        on_epoch=observe if pruner.granularity == "epoch" else None,
        learning_rate=learning_rate,
        resume=resume,
        saved=saved,
        extra_state=lambda: {"masks": masks, "pruner_state": state},
        on_finish=lambda opt: momentum.update(momentum_buffers(opt, params)),
        description=f"{method} round{round_index} {previous.model_name} seed{seed}",
    )
    # The curve before the checkpoint: a checkpoint under its final name means both are there.
    identity = {"dataset": previous.dataset, "model": previous.model_name, "method": method, "seed": seed, "round": round_index}
    write_curve(identity, trained.curve, curve_path(out, curve_out))
    save_checkpoint(
        Checkpoint(
            model_name=previous.model_name,
            dataset=previous.dataset,
            input_shape=previous.input_shape,
            num_classes=previous.num_classes,
            state_dict=model.state_dict(),
            masks=masks,
            pruner_state=state,
            momentum=momentum,
            meta={
                "method": method,
                "round": round_index,
                "seed": seed,
                "target_sparsity": 1.0 - keep[round_index] / keep[0],
                "train_seconds": trained.seconds,
                "config_hash": config_hash,
                "device": describe_device(target),
                **code,
            },
        ),
        out,
    )
    resume.clear()
