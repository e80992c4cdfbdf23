"""Helpers shared by the training steps (dense training and pruning rounds)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from weightmom import __version__
from weightmom.data import splits
from weightmom.errors import SpecError
from weightmom.evaluation.curves import write_curve
from weightmom.provenance.codeversion import step_digest
from weightmom.provenance.record import code_state
from weightmom.runtime.devices import describe_device
from weightmom.training.checkpoint import Checkpoint, save_checkpoint, settings_path, write_settings
from weightmom.training.loop import ResumeFile, Trained
from weightmom.training.recipe import Accelerator, Recipe


def load_train(data_dir: str | Path, device: torch.device) -> splits.Split:
    return splits.load_split(Path(data_dir) / "train.npz").to(device)


def load_val(data_dir: str | Path, device: torch.device) -> splits.Split:
    """The validation split, evaluated after every epoch for the curve."""
    return splits.load_split(Path(data_dir) / "val.npz").to(device)


def curve_path(out: str | Path, curve_out: str | Path | None) -> Path:
    """Where a training step's curve goes: as given, or curve.parquet beside its checkpoint."""
    return Path(curve_out) if curve_out is not None else Path(out).parent / "curve.parquet"


def resume_file(out: str | Path, key: str) -> ResumeFile:
    """Per-epoch state lives beside the output, under a name Snakemake does not track."""
    return ResumeFile(Path(out).parent / "resume.pt", key)


def check_input_fits(model: torch.nn.Module, model_name: str, dataset: str, shape: tuple, device: torch.device) -> None:
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


def code_version(step: str, pruner: str | None = None) -> dict[str, Any]:
    """The code that runs now (not what the tree holds when training ends): the git state,
    the package version and the step's code digest (weightmom.provenance.codeversion)."""
    return {**code_state(), "weightmom_version": __version__, "code_digest": step_digest(step, pruner)}


def run_settings(
    recipe: Recipe, accelerator: Accelerator, device_asked: str, device_used: torch.device, code: dict[str, Any]
) -> dict[str, Any]:
    """The settings every training step records: its resolved recipe, accelerator, device and code."""
    return {
        "recipe": json.loads(json.dumps(asdict(recipe))),  # as JSON has it: lists, not tuples
        "accelerator": asdict(accelerator),
        "device": {"asked": device_asked, "used": describe_device(device_used)},
        "code": code,
    }


def checkpoint_meta(
    identity: dict[str, Any],
    target_sparsity: float,
    seconds: float,
    config_hash: str,
    device_used: torch.device,
    code: dict[str, Any],
    settings: dict[str, Any],
) -> dict[str, Any]:
    """A new checkpoint's metadata: its lineage (method, round, seed), what the metric rows
    take from it, and the resolved settings that made it."""
    return {
        "method": identity["method"],
        "round": identity["round"],
        "seed": identity["seed"],
        "target_sparsity": target_sparsity,
        "train_seconds": seconds,
        "config_hash": config_hash,
        "device": describe_device(device_used),
        "git_commit": code["git_commit"],
        "git_dirty": code["git_dirty"],
        "settings": settings,
    }


def save_result(checkpoint: Checkpoint, out: str | Path) -> None:
    """The settings file, then the checkpoint: a checkpoint under its final name means both are there."""
    write_settings(checkpoint.settings, settings_path(out))
    save_checkpoint(checkpoint, out)


@dataclass(frozen=True)
class TrainingRun:
    """What a training step (dense training or a pruning round) has resolved before it trains,
    and records with its result: the run's identity (dataset, model, method, seed, round), the
    code, recipe, accelerator and device, the data it trains on, its settings hash, its resume
    file and its parent (None for a dense run)."""

    identity: dict[str, Any]
    code: dict[str, Any]
    recipe: Recipe
    accelerator: Accelerator
    device_asked: str
    device: torch.device
    data_dir: str | Path
    config_hash: str
    resume: ResumeFile
    parent: dict[str, Any] | None


def save_trained(
    run: TrainingRun,
    step_settings: dict[str, Any],
    trained: Trained,
    target_sparsity: float,
    checkpoint: Callable[[dict[str, Any]], Checkpoint],
    out: str | Path,
    curve_out: str | Path | None,
) -> None:
    """Save a training step's result and drop its resume file. The settings are the run's
    identity, its data, the step's own `step_settings`, run_settings, its hash and parent;
    `checkpoint` makes the checkpoint from its metadata. The curve goes first: a checkpoint
    under its final name means both are there."""
    settings = {
        **run.identity,
        "data": str(run.data_dir),
        **step_settings,
        **run_settings(run.recipe, run.accelerator, run.device_asked, run.device, run.code),
        "config_hash": run.config_hash,
        "parent": run.parent,
    }
    write_curve(run.identity, trained.curve, curve_path(out, curve_out))
    meta = checkpoint_meta(
        run.identity, target_sparsity, trained.seconds, run.config_hash, run.device, run.code, settings
    )
    save_result(checkpoint(meta), out)
    run.resume.clear()
