"""`python -m weightmom show PATH`: what a checkpoint is, read from the checkpoint itself.

Prints the resolved settings that made it (kept in the checkpoint; settings.json beside it
is their readable copy), its masks (weights kept and density per layer, overall
compression, the layers left with no weight) and, when it has been evaluated, its metric
row: by default the metrics.parquet beside it (where the workflow's evaluate rule puts
it), or any metric file given, a collected results/<experiment>/metrics.parquet included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tabulate import tabulate

from weightmom.errors import MetricsError
from weightmom.training.checkpoint import Checkpoint, load_checkpoint
from weightmom.training.masks import collapsed_layers, count_kept, count_total

CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.parquet"

#: metric columns shown, with their labels (accuracies as percentages)
METRICS_SHOWN = {
    "top1": "test top-1 (%)",
    "top5": "test top-5 (%)",
    "loss": "test loss",
    "val_top1": "val top-1 (%)",
    "val_top5": "val top-5 (%)",
    "val_loss": "val loss",
    "compression_ratio": "compression (x)",
    "flops_dense": "FLOPs dense",
    "flops_sparse": "FLOPs sparse",
    "train_seconds": "train seconds",
    "device": "device",
}
PERCENT = {"top1", "top5", "val_top1", "val_top5"}


def show(*, path: str | Path, metrics_path: str | Path | None = None) -> None:
    checkpoint_path = Path(path) / CHECKPOINT_FILE if Path(path).is_dir() else Path(path)
    checkpoint = load_checkpoint(checkpoint_path)
    metrics_file = Path(metrics_path) if metrics_path is not None else checkpoint_path.parent / METRICS_FILE
    row = metric_row(checkpoint, metrics_file, required=metrics_path is not None)
    print(describe(checkpoint_path, checkpoint, metrics_file, row))


def describe(checkpoint_path: Path, checkpoint: Checkpoint, metrics_file: Path, row: dict[str, Any] | None) -> str:
    key = checkpoint.row_key()
    lines = [f"checkpoint {checkpoint_path}", "  " + ", ".join(f"{name} {value}" for name, value in key.items()), ""]
    lines += ["settings:", *_settings_lines(checkpoint), ""]
    lines += ["masks:", *_mask_lines(checkpoint), ""]
    if row is None:
        lines.append(f"metrics: not evaluated yet (no {metrics_file})")
    else:
        lines += [f"metrics ({metrics_file}):", *_metric_lines(row)]
    return "\n".join(lines)


def metric_row(checkpoint: Checkpoint, metrics_file: Path, required: bool) -> dict[str, Any] | None:
    """The checkpoint's row in `metrics_file` (None when the file is absent and was not asked for)."""
    from weightmom.evaluation.metrics import METRIC_SCHEMA, read_rows

    if not metrics_file.exists() and not required:
        return None
    frame = read_rows([metrics_file], METRIC_SCHEMA)
    key = checkpoint.row_key()
    # a collected file holds the dense row once per method, as each method's round 0
    matched = {name: value for name, value in key.items() if not (name == "method" and key["round"] == 0)}
    mine = frame[(frame[list(matched)] == list(matched.values())).all(axis=1)]
    if mine.empty:
        described = ", ".join(f"{name} {value}" for name, value in key.items())
        raise MetricsError(f"{metrics_file}: holds no metric row of this checkpoint ({described})")
    return mine.iloc[0].to_dict()


def _settings_lines(checkpoint: Checkpoint) -> list[str]:
    settings = checkpoint.settings
    if not settings:
        shown = {name: value for name, value in checkpoint.meta.items() if name != "settings"}
        return ["  (not recorded: a checkpoint made before settings were kept; its metadata:)", *_pairs(shown)]
    return _pairs(settings)


def _pairs(values: dict[str, Any]) -> list[str]:
    width = max(map(len, values), default=0)
    return [f"  {name:<{width}}  {_plain(value)}" for name, value in values.items()]


def _plain(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (dict, list, tuple)) or value is None else str(value)


def _mask_lines(checkpoint: Checkpoint) -> list[str]:
    rows = [
        [name, mask.numel(), int(mask.sum()), f"{float(mask.float().mean()):.4f}"]
        for name, mask in checkpoint.masks.items()
    ]
    total, kept = count_total(checkpoint.masks), count_kept(checkpoint.masks)
    rows.append(["all prunable", total, kept, f"{kept / total:.4f}"])
    table = tabulate(
        rows,
        headers=["layer", "weights", "kept", "density"],
        tablefmt="simple",
        disable_numparse=True,
        colalign=("left", "right", "right", "right"),
    )
    compression = f"  compression {total / kept:.2f}x ({kept} of {total} prunable weights kept)"
    return [*("  " + line for line in table.splitlines()), compression, *_collapsed_lines(checkpoint)]


def _collapsed_lines(checkpoint: Checkpoint) -> list[str]:
    """A line naming the layers that keep no weight, when there are any: a row of zeros in
    the table above is easy to miss, and such a layer is why the network scores chance."""
    collapsed = collapsed_layers(checkpoint.masks)
    if not collapsed:
        return []
    named = ", ".join(f"{name} (0 of {size})" for name, size in collapsed.items())
    return [f"  collapsed layers: {named}; no signal passes through them"]


def _metric_lines(row: dict[str, Any]) -> list[str]:
    shown = {}
    for column, label in METRICS_SHOWN.items():
        value = row[column]
        if column in PERCENT:
            value = f"{100 * value:.2f}"
        elif isinstance(value, float):
            value = f"{value:.4g}"
        shown[label] = value
    return _pairs(shown)
