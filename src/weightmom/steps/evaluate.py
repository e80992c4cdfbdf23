"""Step: evaluate a checkpoint into one metric row and one row per layer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightmom.data.splits import Split, load_split
from weightmom.evaluation.accuracy import Accuracy, evaluate, layer_flops, predicted_labels
from weightmom.evaluation.metrics import LAYER_SCHEMA, METRIC_SCHEMA, PREDICTION_SCHEMA, write_rows
from weightmom.runtime.devices import resolve_device
from weightmom.training.checkpoint import (
    Checkpoint,
    load_checkpoint,
    settings_path,
    write_settings,
)
from weightmom.training.masks import collapsed_layers, count_kept, count_total


def evaluate_checkpoint(
    *,
    checkpoint_path: str | Path,
    data_dir: str | Path,
    device: str,
    jobs_per_gpu: int = 1,
    metrics_out: str | Path,
    layers_out: str | Path,
    predictions_out: str | Path | None = None,
    expect: Mapping[str, Any] | None = None,
) -> None:
    """One metric row (and one row per layer) for a checkpoint: top-1, top-5 and loss on the
    test split (what tables report) and on the validation split (what choices are made
    on); `expect` as for prune_round."""
    checkpoint = load_checkpoint(checkpoint_path, **(expect or {}))
    target = resolve_device(device, jobs_per_gpu)
    splits = {name: load_split(Path(data_dir) / f"{name}.npz").to(target) for name in ("val", "test")}
    for split in splits.values():
        checkpoint.check_data(split, checkpoint_path, data_dir)
    model = checkpoint.build(target)
    accuracy = evaluate(model, splits["test"])
    validation = evaluate(model, splits["val"])
    layers = _layer_rows(checkpoint, layer_flops(model, checkpoint.input_shape, target))
    row = _metric_row(checkpoint, model, accuracy, validation, layers)
    if predictions_out is not None:
        write_rows(_prediction_rows(checkpoint, model, splits["test"]), PREDICTION_SCHEMA, predictions_out)
    write_settings(checkpoint.settings, settings_path(metrics_out))  # the same file when beside the checkpoint
    write_rows([row], METRIC_SCHEMA, metrics_out)
    write_rows(layers, LAYER_SCHEMA, layers_out)


def _layer_rows(checkpoint: Checkpoint, flops: Mapping[str, float]) -> list[dict[str, Any]]:
    """One row per prunable layer: its size, survivors, density and FLOPs (dense, and scaled by the density)."""
    rows = []
    for name, mask in checkpoint.masks.items():
        density = float(mask.float().mean())
        rows.append(
            {
                **checkpoint.row_key(),
                "layer": name,
                "numel": mask.numel(),
                "nonzero": int(mask.sum()),
                "density": density,
                "flops_dense": float(flops[name]),
                "flops_sparse": flops[name] * density,
            }
        )
    return rows


def _metric_row(
    checkpoint: Checkpoint, model: nn.Module, accuracy: Accuracy, validation: Accuracy, layers: list[dict[str, Any]]
) -> dict[str, Any]:
    meta = checkpoint.meta
    total, kept = count_total(checkpoint.masks), count_kept(checkpoint.masks)
    params_total = sum(p.numel() for p in model.parameters())
    return {
        **checkpoint.row_key(),
        "target_sparsity": float(meta["target_sparsity"]),
        "sparsity": 1.0 - kept / total,
        "compression_ratio": total / kept,
        "params_total": params_total,
        "params_prunable": total,
        "params_nonzero": params_total - (total - kept),
        "collapsed_layers": len(collapsed_layers(checkpoint.masks)),
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
        "git_commit": meta.get("git_commit", "unknown"),
        "git_dirty": meta.get("git_dirty"),
        "torch_version": torch.__version__,
        "device": meta["device"],
    }


def _prediction_rows(checkpoint: Checkpoint, model: nn.Module, test: Split) -> list[dict[str, Any]]:
    """A row per test image: its label and the class the network predicts."""
    key = checkpoint.row_key()
    predicted = predicted_labels(model, test).tolist()
    return [
        {**key, "index": i, "label": label, "predicted": guess}
        for i, (label, guess) in enumerate(zip(test.labels.cpu().tolist(), predicted))
    ]
