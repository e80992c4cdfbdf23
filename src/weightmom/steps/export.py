"""Step: export a checkpoint for deployment, and measure what pruning buys there.

Writes, beside the checkpoint: the masked network as a sparse weight file
(weightmom.sparse_file: bitmask + surviving values, checked to load back to identical
outputs), as an ONNX file (weightmom.onnx_export: checked with onnxruntime against
PyTorch on test images), and one export row (metrics.EXPORT_SCHEMA): the size of the dense
file (torch.save of the same network's state dict, zeros stored), of the sparse file and
their ratio, the ONNX check, and CPU latencies (weightmom.latency) of this network and of
the dense network of the same model and seed, measured interleaved in this job.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from weightmom.checkpoint import Checkpoint, load_checkpoint
from weightmom.errors import CheckpointError
from weightmom.latency import cpu_latency, cpu_name
from weightmom.lineage import DENSE
from weightmom.masks import count_kept, count_total
from weightmom.metrics import EXPORT_SCHEMA, LATENCY_COLUMNS, write_rows
from weightmom.onnx_export import export_checked, write_onnx
from weightmom.sparse_file import SparseFileError, load_sparse_model, save_sparse
from weightmom.splits import load_split

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
    if test.input_shape != checkpoint.input_shape or test.num_classes != checkpoint.num_classes:
        raise CheckpointError(
            f"{checkpoint_path}: built for inputs {checkpoint.input_shape} and {checkpoint.num_classes} classes, "
            f"{data_dir} has {test.input_shape} and {test.num_classes} classes"
        )
    meta = checkpoint.meta
    key = checkpoint.row_key()
    model = masked_model(checkpoint)
    images = test.normalise(test.images[:CHECK_IMAGES])
    total, kept = count_total(checkpoint.masks), count_kept(checkpoint.masks)
    info = {
        **key,
        "input_shape": list(checkpoint.input_shape),
        "num_classes": checkpoint.num_classes,
        "compression_ratio": total / kept,
        "classes": list(test.classes),
        "mean": test.mean.tolist(),
        "std": test.std.tolist(),
    }

    save_sparse(sparse_out, model.state_dict(), checkpoint.masks, info)
    with torch.inference_mode():
        expected, restored = model(images), load_sparse_model(sparse_out)(images)
    if not torch.equal(expected, restored):
        raise SparseFileError(
            f"{sparse_out}: the network loaded back from it does not give the outputs of {checkpoint_path} "
            f"(max |difference| {float((expected - restored).abs().max()):.3g})"
        )
    onnx_metadata = {f"weightmom.{name}": str(value) for name, value in info.items()}
    check = export_checked(model, images, onnx_out, onnx_metadata, threads)

    with tempfile.TemporaryDirectory(prefix="weightmom-export-") as scratch:
        dense_file = Path(scratch) / "state_dict.pt"
        torch.save(model.state_dict(), dense_file)
        dense_file_bytes = dense_file.stat().st_size
        networks = {"this": (model, onnx_out)}
        if meta["method"] != DENSE:
            dense = load_checkpoint(
                dense_checkpoint_path, model_name=checkpoint.model_name, dataset=checkpoint.dataset,
                seed=int(meta["seed"]), method=DENSE, round_index=0,
            )
            dense_model = masked_model(dense)
            dense_onnx = dense_onnx_path
            if dense_onnx is None:
                dense_onnx = Path(scratch) / "dense.onnx"
                write_onnx(dense_model, images, dense_onnx)
            networks["dense"] = (dense_model, dense_onnx)
        latency = cpu_latency(networks, images, threads=threads, repeats=repeats, budget_s=budget_s)
    latency.setdefault("dense", latency["this"])

    sparse_file_bytes = Path(sparse_out).stat().st_size
    row = {
        **key,
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
        "latency_threads": threads,
        "latency_runs": min(timing.runs for timings in latency.values() for timing in timings.values()),
        **{name: latency["this"][name.removesuffix("_ms")].median_ms for name in LATENCY_COLUMNS},
        **{f"dense_{name}": latency["dense"][name.removesuffix("_ms")].median_ms for name in LATENCY_COLUMNS},
        "cpu": cpu_name(),
        "torch_version": torch.__version__,
        "onnxruntime_version": _onnxruntime_version(),
    }
    write_rows([row], EXPORT_SCHEMA, rows_out)


def _onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__
