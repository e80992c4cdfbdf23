"""ONNX export of a (masked) network, checked with onnxruntime against PyTorch.

The file takes a float batch `images` (N, C, H, W), standardised as in training, with a
free batch dimension, and gives `logits` (N, classes). It is one self-contained file (no
external weight data) written with torch's exporter (torch.export, then onnxscript),
and it is only put in place after onnxruntime ran it on a batch of test images: the same
predicted class as PyTorch for every image, and logits within

    |onnxruntime - PyTorch| <= TOLERANCE * max(1, max |PyTorch logit|)

(a difference of kernels, not of weights: float32 sums in another order). An image whose
two best PyTorch logits lie within that tolerance of each other is a tie either runtime
may break its own way; it counts against the agreement but does not fail the check. ONNX
stores every weight, zeros included: the file is as large as the dense network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from weightmom.errors import WeightMomError
from weightmom.provenance.atomic import atomic_path

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
#: the largest difference of logits allowed, relative to the logits' scale (at least 1)
TOLERANCE = 1e-3


class OnnxCheckError(WeightMomError):
    """The exported ONNX file does not compute what the PyTorch network does."""


@dataclass(frozen=True)
class OnnxCheck:
    """onnxruntime against PyTorch on `images` inputs."""

    images: int
    max_abs_diff: float
    agreement: float  # share of images with the same predicted class
    scale: float  # max(1, max |PyTorch logit|)
    ties: int  # images whose two best PyTorch logits are within the tolerance

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= TOLERANCE * self.scale and self.agreement * self.images >= self.images - self.ties


def session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU session running `threads` threads, one operator at a time."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def write_onnx(model: nn.Module, example: torch.Tensor, path: str | Path, metadata: Mapping[str, str] = {}) -> None:
    """Export `model` (put in eval mode) for inputs shaped like `example`, any batch size,
    to `path` (not atomically: see export_checked), with `metadata` as the model's
    metadata_props."""
    model.eval()
    batch = torch.export.Dim("batch")
    example = example[:2] if example.shape[0] >= 2 else example.expand(2, *example.shape[1:])
    with torch.no_grad():
        program = torch.onnx.export(
            model,
            (example.contiguous(),),
            None,
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: batch},),
            external_data=False,
            verbose=False,
        )
    for key, value in metadata.items():
        program.model.metadata_props[key] = str(value)
    program.save(str(path), external_data=False)


@torch.no_grad()
def check_onnx(path: str | Path, model: nn.Module, images: torch.Tensor, threads: int = 1) -> OnnxCheck:
    """Run the ONNX file at `path` and `model` (eval mode) on `images`; compare."""
    model.eval()
    expected = model(images).float()
    got = torch.from_numpy(session(path, threads).run([OUTPUT_NAME], {INPUT_NAME: _array(images)})[0]).float()
    if got.shape != expected.shape:
        raise OnnxCheckError(f"{path}: gives logits {tuple(got.shape)}, PyTorch {tuple(expected.shape)}")
    scale = max(1.0, float(expected.abs().max()))
    top2 = expected.topk(min(2, expected.shape[1]), dim=1).values
    ties = int((top2[:, 0] - top2[:, -1] <= TOLERANCE * scale).sum()) if expected.shape[1] > 1 else 0
    return OnnxCheck(
        images=images.shape[0],
        max_abs_diff=float((got - expected).abs().max()),
        agreement=float((got.argmax(1) == expected.argmax(1)).float().mean()),
        scale=scale,
        ties=ties,
    )


def export_checked(
    model: nn.Module, images: torch.Tensor, path: str | Path, metadata: Mapping[str, str] = {}, threads: int = 1
) -> OnnxCheck:
    """Export `model` to `path`, check it on `images`, and put it in place only if it
    passes; otherwise raise OnnxCheckError naming the file and the numbers."""
    with atomic_path(path) as tmp:
        write_onnx(model, images, tmp, metadata)
        check = check_onnx(tmp, model, images, threads)
        if not check.passed:
            raise OnnxCheckError(
                f"{path}: onnxruntime disagrees with PyTorch on {check.images} test images: max |logit difference| "
                f"{check.max_abs_diff:.3g} (allowed {TOLERANCE * check.scale:.3g}), same class for "
                f"{check.agreement:.2%} ({check.ties} near-ties); the file was not written"
            )
    return check


def _array(images: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(images.detach().cpu().float().numpy())
