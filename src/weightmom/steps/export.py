"""Step: export a checkpoint for deployment, and measure what pruning buys there.

Writes, beside the checkpoint: the masked network as a sparse weight file
(weightmom.export.sparse_file: bitmask + surviving values, checked to load back to identical
outputs), as an ONNX file (weightmom.export.onnx_export: checked with onnxruntime against
PyTorch on test images), and one export row (metrics.EXPORT_SCHEMA): the size of the dense
file (torch.save of the same network's state dict, zeros stored), of the sparse file and
their ratio, the ONNX check, and CPU latencies (weightmom.export.latency) of this network and of
the dense network of the same model and seed, measured interleaved in this job.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from weightmom.data.splits import Split, load_split
from weightmom.evaluation.metrics import EXPORT_SCHEMA, LATENCY_COLUMNS, write_rows
from weightmom.export.latency import cpu_latency, cpu_name
from weightmom.export.onnx_export import OnnxCheck, export_checked, write_onnx
from weightmom.export.sparse_file import SparseFileError, load_sparse_model, save_sparse
from weightmom.lineage import DENSE
from weightmom.training.checkpoint import Checkpoint, load_checkpoint
from weightmom.training.masks import count_kept, count_total

#: test images the ONNX file and the sparse file's round trip are checked on
CHECK_IMAGES = 256


def masked_model(checkpoint: Checkpoint) -> nn.Module:
    """The checkpoint's network with every pruned weight exactly +0.0, in eval mode, on the CPU."""
    model = checkpoint.build("cpu").eval()
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in checkpoint.masks.items():
            weight = parameters[name]
            weight.copy_(torch.where(mask, weight, torch.zeros((), dtype=weight.dtype)))
    return model


def export_checkpoint(
    *,
    checkpoint_path: str | Path,
    dense_checkpoint_path: str | Path,
    data_dir: str | Path,
    threads: int,
    sparse_out: str | Path,
    onnx_out: str | Path,
    rows_out: str | Path,
    dense_onnx_path: str | Path | None = None,
    expect: Mapping[str, Any] | None = None,
    repeats: int = 20,
    budget_s: float = 30.0,
) -> None:
    """Export the checkpoint at `checkpoint_path` (`expect` as for prune_round) and write
    its export row last, so that a row means every file of the export is in place.
    `dense_checkpoint_path` is the dense run of the same model and seed (the same file for
    the dense checkpoint itself), whose latency is measured beside this one's, in
    onnxruntime from `dense_onnx_path` (its export) when given, else from an export made
    here."""
    checkpoint = load_checkpoint(checkpoint_path, **(expect or {}))
    test = load_split(Path(data_dir) / "test.npz")
    checkpoint.check_data(test, checkpoint_path, data_dir)
    model = masked_model(checkpoint)
    images = test.normalise(test.images[:CHECK_IMAGES])
    info = _network_info(checkpoint, test)
    _save_sparse_checked(model, checkpoint, info, images, sparse_out, checkpoint_path)
    check = export_checked(
        model, images, onnx_out, {f"weightmom.{name}": str(value) for name, value in info.items()}, threads
    )
    dense_file_bytes, latency = _measure(
        checkpoint, model, images, onnx_out, dense_checkpoint_path, dense_onnx_path, threads, repeats, budget_s
    )
    row = _export_row(checkpoint, check, dense_file_bytes, latency, sparse_out, onnx_out, threads)
    write_rows([row], EXPORT_SCHEMA, rows_out)


def _measure(
    checkpoint: Checkpoint,
    model: nn.Module,
    images: torch.Tensor,
    onnx_out: str | Path,
    dense_checkpoint_path: str | Path,
    dense_onnx_path: str | Path | None,
    threads: int,
    repeats: int,
    budget_s: float,
) -> tuple[int, dict[str, Any]]:
    """The size of the network's dense file (torch.save of its state dict, zeros stored) and the
    CPU latencies of this network and of the dense one (this one's, for the dense checkpoint)."""
    with tempfile.TemporaryDirectory(prefix="weightmom-export-") as scratch:
        dense_file = Path(scratch) / "state_dict.pt"
        torch.save(model.state_dict(), dense_file)
        dense_file_bytes = dense_file.stat().st_size
        networks = {"this": (model, onnx_out)}
        if checkpoint.meta["method"] != DENSE:
            networks["dense"] = _dense_network(
                checkpoint, dense_checkpoint_path, dense_onnx_path, images, Path(scratch)
            )
        latency = cpu_latency(networks, images, threads=threads, repeats=repeats, budget_s=budget_s)
    latency.setdefault("dense", latency["this"])
    return dense_file_bytes, latency


def _export_row(
    checkpoint: Checkpoint,
    check: OnnxCheck,
    dense_file_bytes: int,
    latency: dict[str, Any],
    sparse_out: str | Path,
    onnx_out: str | Path,
    threads: int,
) -> dict[str, Any]:
    """The export row (metrics.EXPORT_SCHEMA), from the files in place and what was measured."""
    total, kept = count_total(checkpoint.masks), count_kept(checkpoint.masks)
    sparse_file_bytes = Path(sparse_out).stat().st_size
    return {
        **checkpoint.row_key(),
        "compression_ratio": total / kept,
        "params_prunable": total,
        "params_kept": kept,
        "dense_file_bytes": dense_file_bytes,
        "sparse_file_bytes": sparse_file_bytes,
        "size_ratio": dense_file_bytes / sparse_file_bytes,
        "onnx_bytes": Path(onnx_out).stat().st_size,
        "onnx_check_images": check.images,
        "onnx_max_abs_logit_diff": check.max_abs_diff,
        "onnx_agreement": check.agreement,
        **_latency_columns(latency, threads),
        "torch_version": torch.__version__,
        "onnxruntime_version": _onnxruntime_version(),
    }


def _network_info(checkpoint: Checkpoint, test: Split) -> dict[str, Any]:
    """What the exported files' metadata say: which network, where it came from, its classes and input normalisation."""
    total, kept = count_total(checkpoint.masks), count_kept(checkpoint.masks)
    return {
        **checkpoint.row_key(),
        "input_shape": list(checkpoint.input_shape),
        "num_classes": checkpoint.num_classes,
        "compression_ratio": total / kept,
        "classes": list(test.classes),
        "mean": test.mean.tolist(),
        "std": test.std.tolist(),
    }


def _save_sparse_checked(
    model: nn.Module,
    checkpoint: Checkpoint,
    info: dict[str, Any],
    images: torch.Tensor,
    sparse_out: str | Path,
    checkpoint_path: str | Path,
) -> None:
    """Write the sparse weight file and refuse it unless it loads back to the same outputs, bit for bit."""
    save_sparse(sparse_out, model.state_dict(), checkpoint.masks, info)
    with torch.inference_mode():
        expected, restored = model(images), load_sparse_model(sparse_out)(images)
    if not torch.equal(expected, restored):
        raise SparseFileError(
            f"{sparse_out}: the network loaded back from it does not give the outputs of {checkpoint_path} "
            f"(max |difference| {float((expected - restored).abs().max()):.3g})"
        )


def _dense_network(
    checkpoint: Checkpoint,
    dense_checkpoint_path: str | Path,
    dense_onnx_path: str | Path | None,
    images: torch.Tensor,
    scratch: Path,
) -> tuple[nn.Module, str | Path]:
    """The dense network of the same model and seed, and its ONNX file (exported into `scratch` when not given), to time beside it."""
    dense = load_checkpoint(
        dense_checkpoint_path,
        model_name=checkpoint.model_name,
        dataset=checkpoint.dataset,
        seed=int(checkpoint.meta["seed"]),
        method=DENSE,
        round_index=0,
    )
    dense_model = masked_model(dense)
    if dense_onnx_path is None:
        dense_onnx_path = scratch / "dense.onnx"
        write_onnx(dense_model, images, dense_onnx_path)
    return dense_model, dense_onnx_path


def _latency_columns(latency: dict[str, Any], threads: int) -> dict[str, Any]:
    """The export row's latency columns: this network's and the dense network's medians, and how they were measured."""
    return {
        "latency_threads": threads,
        "latency_runs": min(timing.runs for timings in latency.values() for timing in timings.values()),
        **{name: latency["this"][name.removesuffix("_ms")].median_ms for name in LATENCY_COLUMNS},
        **{f"dense_{name}": latency["dense"][name.removesuffix("_ms")].median_ms for name in LATENCY_COLUMNS},
        "cpu": cpu_name(),
    }


def _onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
