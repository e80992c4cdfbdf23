"""The steps that make and evaluate checkpoints, as plain functions the CLI and tests call.

Each step reads files and writes files (atomically), so Snakemake can chain them and a
user can run any of them by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from weightmom import datasets
from weightmom.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from weightmom.errors import CheckpointError, SpecError
from weightmom.evaluation import evaluate, layer_flops
from weightmom.masks import MaskEnforcer, count_kept, count_total, full_masks
from weightmom.metrics import DENSE, LAYER_SCHEMA, METRIC_SCHEMA, write_rows
from weightmom.models import build_model, prunable_parameters
from weightmom.provenance import git_commit, settings_hash
from weightmom.pruning.schedule import keep_counts
from weightmom.recipe import Accelerator, Recipe
from weightmom.training import ResumeFile, describe_device, momentum_buffers, resolve_device, train


def download_data(spec: Mapping[str, Any], raw_dir: str | Path) -> None:
    """Fetch the dataset's archive into `raw_dir`, verified against its MD5."""
    from weightmom.download import fetch
    from weightmom.sources import archive_address, local_archive

    fetch(archive_address(spec), local_archive(spec, Path(raw_dir)), spec["md5"], retries=spec["retries"], timeout=spec["timeout"])


def prepare_data(spec: Mapping[str, Any], raw_dir: str | Path, out_dir: str | Path) -> None:
    datasets.prepare(dict(spec), raw_dir, out_dir)


def _load_train(data_dir: str | Path, device: torch.device) -> datasets.Split:
    return datasets.load_split(Path(data_dir) / "train.npz").to(device)


def _resume_file(out: str | Path, key: str) -> ResumeFile:
    """Per-epoch state lives beside the output, under a name Snakemake does not track."""
    return ResumeFile(Path(out).parent / "resume.pt", key)


def _check_input_fits(model: torch.nn.Module, model_name: str, dataset: str, shape: tuple, device: torch.device) -> None:
    """One eval-mode forward pass on a blank image: a model too deep for small images (say
    AlexNet on 8x8 digits) fails here with a message, not in the first training step."""
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *shape, device=device))
    except RuntimeError as exc:
        channels, height, width = shape
        raise SpecError(
            f"model {model_name!r} cannot take the {height}x{width} images with {channels} channel(s) of dataset "
            f"{dataset!r} ({str(exc).splitlines()[0]}); pick a model made for this input size in the config's tables"
        ) from None
    finally:
        model.train()


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
    out: str | Path,
) -> None:
    """Train the dense baseline every pruning method starts from (resumable per epoch).

    The weights after each of `snapshot_epochs` are kept in the checkpoint for methods
    that rewind to them (lottery tickets); 0 keeps the initialisation.
    """
    run_recipe = Recipe.from_dict(recipe, "dense recipe")
    speed = Accelerator.from_dict(accelerator or {})
    target = resolve_device(device)
    data = _load_train(data_dir, target)
    torch.manual_seed(seed)
    model = build_model(model_name, data.input_shape, data.num_classes).to(target)
    _check_input_fits(model, model_name, dataset, data.input_shape, target)
    wanted = sorted(set(snapshot_epochs))
    if wanted and not 0 <= wanted[-1] <= run_recipe.epochs:
        raise SpecError(f"snapshot epoch {wanted[-1]} is outside the dense run's 0..{run_recipe.epochs} epochs")
    config_hash = settings_hash(
        {"dataset": dataset, "model": model_name, "seed": seed, "recipe": dict(recipe), "snapshots": wanted}
    )
    resume = _resume_file(out, config_hash)
    saved = resume.load()
    snapshots: dict[int, dict[str, torch.Tensor]] = dict(saved["extra"]["snapshots"]) if saved else {}

    def keep_snapshot(epoch: int) -> None:
        if epoch in wanted:
            snapshots[epoch] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    if saved is None:
        keep_snapshot(0)
    params = prunable_parameters(model)
    momentum: dict[str, torch.Tensor] = {}
    seconds = train(
        model, data, run_recipe, seed=seed, accelerator=speed, on_epoch=keep_snapshot, resume=resume, saved=saved,
        extra_state=lambda: {"snapshots": snapshots}, on_finish=lambda opt: momentum.update(momentum_buffers(opt, params)),
        description=f"dense {model_name} seed{seed}",
    )
    save_checkpoint(
        Checkpoint(
            model_name=model_name,
            dataset=dataset,
            input_shape=data.input_shape,
            num_classes=data.num_classes,
            state_dict=model.state_dict(),
            masks=full_masks(params),
            snapshots=snapshots,
            momentum=momentum,
            meta={
                "method": DENSE,
                "round": 0,
                "seed": seed,
                "target_sparsity": 0.0,
                "train_seconds": seconds,
                "config_hash": config_hash,
                "device": describe_device(target),
            },
        ),
        out,
    )
    resume.clear()


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
    out: str | Path,
    expect: Mapping[str, Any] | None = None,
) -> None:
    """Round r from round r-1: update scores, prune to the schedule's count, fine-tune.

    The dense checkpoint and recipe are needed by methods that rewind weights or the
    learning rate. Resumable: a restarted job takes the masks and scores of its
    interrupted self and continues fine-tuning from the last finished epoch. `expect`
    (load_checkpoint's model_name, dataset, seed, ...) is what the checkpoint must have been
    made for.
    """
    from weightmom.pruning import build_pruner  # only pruning jobs pay for the method registry

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
    target = resolve_device(device)
    seed = int(previous.meta["seed"])
    data = _load_train(data_dir, target)
    model = previous.build(target)
    params = prunable_parameters(model)
    settings = {
        "method": method, "pruner": pruner_name, "options": dict(pruner_options), "pruning": dict(pruning),
        "round": round_index, "recipe": dict(recipe), "dense_recipe": dict(dense_recipe or {}),
    }
    config_hash = settings_hash(settings, previous.meta["config_hash"])
    resume = _resume_file(out, config_hash)
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
        generator = torch.Generator().manual_seed(seed * 1000 + round_index)
        masks = pruner.prune(params, masks, state, keep[round_index], generator, momentum=previous.momentum)
        if pruner.snapshot_epochs():
            if dense_checkpoint_path is None:
                raise SpecError(f"pruner {pruner_name!r} rewinds weights: give the dense checkpoint")
            dense = load_checkpoint(dense_checkpoint_path, model_name=previous.model_name, dataset=previous.dataset, seed=seed)
            pruner.rewind(model, dense.snapshots)

    def observe(*_: int) -> None:
        pruner.observe(params, state)

    momentum: dict[str, torch.Tensor] = {}

    seconds = train(
        model,
        data,
        run_recipe,
        seed=seed * 1000 + round_index,
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
                "train_seconds": seconds,
                "config_hash": config_hash,
                "device": describe_device(target),
            },
        ),
        out,
    )
    resume.clear()


def evaluate_checkpoint(
    *,
    checkpoint_path: str | Path,
    data_dir: str | Path,
    device: str,
    metrics_out: str | Path,
    layers_out: str | Path,
    expect: Mapping[str, Any] | None = None,
) -> None:
    """One metric row (and one row per layer) for a checkpoint: top-1, top-5 and loss on the
    test split (what tables report) and on the validation split (what choices are made
    on); `expect` as for prune_round."""
    checkpoint = load_checkpoint(checkpoint_path, **(expect or {}))
    target = resolve_device(device)
    splits = {name: datasets.load_split(Path(data_dir) / f"{name}.npz").to(target) for name in ("val", "test")}
    for split in splits.values():
        if split.input_shape != checkpoint.input_shape or split.num_classes != checkpoint.num_classes:
            raise CheckpointError(
                f"{checkpoint_path}: built for inputs {checkpoint.input_shape} and {checkpoint.num_classes} classes, "
                f"{data_dir} has {split.input_shape} and {split.num_classes} classes"
            )
    model = checkpoint.build(target)
    accuracy = evaluate(model, splits["test"])
    validation = evaluate(model, splits["val"])
    flops = layer_flops(model, checkpoint.input_shape, target)
    meta = checkpoint.meta
    key = {
        "dataset": checkpoint.dataset,
        "model": checkpoint.model_name,
        "method": meta["method"],
        "seed": int(meta["seed"]),
        "round": int(meta["round"]),
    }
    layers = []
    for name, mask in checkpoint.masks.items():
        density = float(mask.float().mean())
        layers.append(
            {
                **key,
                "layer": name,
                "numel": mask.numel(),
                "nonzero": int(mask.sum()),
                "density": density,
                "flops_dense": float(flops[name]),
                "flops_sparse": flops[name] * density,
            }
        )
    total, kept = count_total(checkpoint.masks), count_kept(checkpoint.masks)
    params_total = sum(p.numel() for p in model.parameters())
    row = {
        **key,
        "target_sparsity": float(meta["target_sparsity"]),
        "sparsity": 1.0 - kept / total,
        "compression_ratio": total / kept,
        "params_total": params_total,
        "params_prunable": total,
        "params_nonzero": params_total - (total - kept),
        "top1": accuracy.top1,
        "top5": accuracy.top5,
        "loss": accuracy.loss,
        "val_top1": validation.top1,
        "val_top5": validation.top5,
        "val_loss": validation.loss,
        "flops_dense": float(sum(row["flops_dense"] for row in layers)),
        "flops_sparse": float(sum(row["flops_sparse"] for row in layers)),
        "train_seconds": float(meta["train_seconds"]),
        "config_hash": meta["config_hash"],
        "git_commit": git_commit(),
        "torch_version": torch.__version__,
        "device": meta["device"],
    }
    write_rows([row], METRIC_SCHEMA, metrics_out)
    write_rows(layers, LAYER_SCHEMA, layers_out)
