"""Step: evaluate a checkpoint into one metric row and one row per layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from weightmom.checkpoint import load_checkpoint, settings_path, write_settings
from weightmom.errors import CheckpointError
from weightmom.evaluation import evaluate, layer_flops, predicted_labels
from weightmom.masks import count_kept, count_total
from weightmom.metrics import LAYER_SCHEMA, METRIC_SCHEMA, PREDICTION_SCHEMA, write_rows
from weightmom.splits import load_split
from weightmom.devices import resolve_device


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
    key = checkpoint.row_key()
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
        "git_commit": meta.get("git_commit", "unknown"),
        "git_dirty": meta.get("git_dirty"),
        "torch_version": torch.__version__,
        "device": meta["device"],
    }
    if predictions_out is not None:
        test = splits["test"]
        predicted = predicted_labels(model, test).tolist()
        rows = [
            {**key, "index": i, "label": label, "predicted": guess}
            for i, (label, guess) in enumerate(zip(test.labels.cpu().tolist(), predicted))
        ]
        write_rows(rows, PREDICTION_SCHEMA, predictions_out)
    write_settings(checkpoint.settings, settings_path(metrics_out))  # the same file when beside the checkpoint
    write_rows([row], METRIC_SCHEMA, metrics_out)
    write_rows(layers, LAYER_SCHEMA, layers_out)
