"""Checkpoints: model weights, masks, pruner state and lineage metadata in one file.

Loaded with `weights_only=True` (tensors and plain containers only), and checked: a file
that is truncated, corrupted (its stored digest does not match), not a weightmom
checkpoint, or built for another model, dataset or seed is an error naming the file,
never a silent load.

Beside each checkpoint the step that made it writes SETTINGS_FILE, a readable copy of
the resolved settings it holds in `meta["settings"]` (`python -m weightmom show` prints
them): what made a results folder can be read from the folder itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from weightmom.errors import CheckpointError
from weightmom.models import build_model, prunable_parameters
from weightmom.provenance.atomic import atomic_write_text
from weightmom.provenance.integrity import digest_matches, save_with_digest

if TYPE_CHECKING:
    from weightmom.data.splits import Split

FORMAT = "weightmom-checkpoint"
FORMAT_VERSION = 2  # 2: contents digest
#: the readable settings file beside a checkpoint (and beside its evaluation's metric rows)
SETTINGS_FILE = "settings.json"


@dataclass
class Checkpoint:
    model_name: str
    dataset: str
    input_shape: tuple[int, int, int]
    num_classes: int
    state_dict: dict[str, torch.Tensor]
    masks: dict[str, torch.Tensor]
    pruner_state: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    #: dense runs only: weights after selected epochs, for methods that rewind to them
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    #: SGD momentum buffers of the prunable weights when training ended (sparse momentum's
    #: layer statistic); empty when the recipe has no momentum
    momentum: dict[str, torch.Tensor] = field(default_factory=dict)

    def row_key(self) -> dict[str, Any]:
        """What identifies this checkpoint's rows (weightmom.evaluation.metrics.ROW_KEY)."""
        return {
            "dataset": self.dataset,
            "model": self.model_name,
            "method": self.meta["method"],
            "seed": int(self.meta["seed"]),
            "round": int(self.meta["round"]),
        }

    @property
    def settings(self) -> dict[str, Any]:
        """The resolved settings that made this checkpoint (empty for one made before they were kept)."""
        return dict(self.meta.get("settings", {}))

    def check_data(self, split: Split, path: str | Path, data_dir: str | Path) -> None:
        """Refuse a split of another input shape or number of classes than this network takes."""
        if split.input_shape != self.input_shape or split.num_classes != self.num_classes:
            raise CheckpointError(
                f"{path}: built for inputs {self.input_shape} and {self.num_classes} classes, "
                f"{data_dir} has {split.input_shape} and {split.num_classes} classes"
            )

    def successor(
        self,
        state_dict: dict[str, torch.Tensor],
        masks: dict[str, torch.Tensor],
        pruner_state: dict[str, torch.Tensor],
        momentum: dict[str, torch.Tensor],
        meta: dict[str, Any],
    ) -> Checkpoint:
        """The next round's checkpoint: the same network (model, dataset, input, classes) with new contents."""
        return Checkpoint(
            model_name=self.model_name,
            dataset=self.dataset,
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            state_dict=state_dict,
            masks=masks,
            pruner_state=pruner_state,
            meta=meta,
            momentum=momentum,
        )

    def build(self, device: torch.device | str = "cpu") -> nn.Module:
        """The model with these weights, on `device`."""
        model = build_model(self.model_name, self.input_shape, self.num_classes)
        model.load_state_dict(self.state_dict)
        return model.to(device)


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> None:
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": checkpoint.model_name,
        "dataset": checkpoint.dataset,
        "input_shape": list(checkpoint.input_shape),
        "num_classes": checkpoint.num_classes,
        "state_dict": {k: v.detach().cpu() for k, v in checkpoint.state_dict.items()},
        "masks": {k: v.cpu() for k, v in checkpoint.masks.items()},
        "pruner_state": {k: v.detach().cpu() for k, v in checkpoint.pruner_state.items()},
        "meta": checkpoint.meta,
        "snapshots": checkpoint.snapshots,
        "momentum": {k: v.detach().cpu() for k, v in checkpoint.momentum.items()},
    }
    save_with_digest(payload, path)


def settings_path(path: str | Path) -> Path:
    """Where the settings file of the checkpoint (or metric rows) at `path` goes."""
    return Path(path).parent / SETTINGS_FILE


def write_settings(settings: dict[str, Any], path: str | Path) -> None:
    atomic_write_text(path, json.dumps(settings, indent=2) + "\n")


def load_checkpoint(
    path: str | Path,
    *,
    model_name: str | None = None,
    dataset: str | None = None,
    seed: int | None = None,
    method: str | None = None,
    round_index: int | None = None,
) -> Checkpoint:
    """The checkpoint at `path`, checked for consistency and, where given, against the
    model, dataset, seed, method and round of the directory it is used in."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except Exception as exc:
        raise CheckpointError(
            f"{path}: unreadable checkpoint (truncated or corrupt?): {exc}; delete it and rerun to remake it"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a weightmom checkpoint")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {payload.get('format_version')}, this package reads {FORMAT_VERSION}"
        )
    if not digest_matches(payload):
        raise CheckpointError(
            f"{path}: contents do not match the digest stored in it (corrupted on disk or in transfer); "
            "delete it and rerun to remake it"
        )
    checkpoint = Checkpoint(
        model_name=payload["model_name"],
        dataset=payload["dataset"],
        input_shape=tuple(payload["input_shape"]),
        num_classes=payload["num_classes"],
        state_dict=payload["state_dict"],
        masks=payload["masks"],
        pruner_state=payload["pruner_state"],
        meta=payload["meta"],
        snapshots=payload.get("snapshots", {}),
        momentum=payload.get("momentum", {}),
    )
    meta = checkpoint.meta
    found = {
        "model": checkpoint.model_name,
        "dataset": checkpoint.dataset,
        "seed": meta.get("seed"),
        "method": meta.get("method"),
        "round": meta.get("round"),
    }
    expected_values = {"model": model_name, "dataset": dataset, "seed": seed, "method": method, "round": round_index}
    for key, expected in expected_values.items():
        if expected is not None and found[key] != expected:
            raise CheckpointError(f"{path}: checkpoint is for {key} {found[key]!r}, expected {expected!r}")
    _check_consistent(path, checkpoint)
    return checkpoint


def _check_consistent(path: Path, checkpoint: Checkpoint) -> None:
    model = build_model(checkpoint.model_name, checkpoint.input_shape, checkpoint.num_classes)
    try:
        model.load_state_dict(checkpoint.state_dict)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not fit model {checkpoint.model_name!r}: {exc}") from None
    params = prunable_parameters(model)
    if set(checkpoint.masks) != set(params):
        raise CheckpointError(f"{path}: masks cover {sorted(checkpoint.masks)}, model prunes {sorted(params)}")
    for name, mask in checkpoint.masks.items():
        if mask.dtype != torch.bool or mask.shape != params[name].shape:
            raise CheckpointError(
                f"{path}: mask {name!r} is {mask.dtype} {tuple(mask.shape)}, expected bool {tuple(params[name].shape)}"
            )
    for name, buffer in checkpoint.momentum.items():
        if name not in params or buffer.shape != params[name].shape:
            raise CheckpointError(f"{path}: momentum buffer {name!r} does not match the model's prunable weights")
    for name, state in checkpoint.pruner_state.items():
        if name not in params or state.shape != params[name].shape:
            raise CheckpointError(f"{path}: pruner state {name!r} does not match the model's prunable weights")
