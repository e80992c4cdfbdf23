"""Helpers shared by the training steps (dense training and pruning rounds)."""

from __future__ import annotations

from pathlib import Path

import torch

from weightmom import splits
from weightmom.errors import SpecError
from weightmom.training import ResumeFile


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
