"""Prepared splits: compact uint8 image arrays plus labels, one .npz file per split.

Contract (results/<experiment>/data/<dataset>/{train,val,test}.npz in the workflow):
    images  uint8  (N, C, H, W)
    labels  int64  (N,)
    classes str    (K,)     class names, index = label
    mean    float32 (C,)    per-channel mean of the *training* images, in [0, 1]
    std     float32 (C,)    per-channel std of the *training* images

This module reads them (training and evaluation need nothing else of the data code);
weightmom.data.datasets writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weightmom.errors import DataError

ARRAYS = ("images", "labels", "classes", "mean", "std")


@dataclass(frozen=True)
class Split:
    """One split held in memory: uint8 images and the normalisation of the training set."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: torch.Tensor
    std: torch.Tensor

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device) -> Split:
        return Split(
            self.images.to(device),
            self.labels.to(device),
            self.classes,
            self.mean.to(device),
            self.std.to(device),
        )

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> float batch, standardised with the training-set statistics."""
        scaled = images.float().div_(255.0)
        return scaled.sub_(self.mean.view(1, -1, 1, 1)).div_(self.std.view(1, -1, 1, 1))


def load_split(path: str | Path) -> Split:
    """Load one prepared split, checking it against the data contract."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in ARRAYS}
    except FileNotFoundError:
        raise DataError(f"{path}: prepared split not found; run the prepare step first") from None
    except KeyError as missing:
        raise DataError(f"{path}: not a prepared split, array {missing} is missing") from None
    except Exception as exc:
        raise DataError(f"{path}: unreadable prepared split ({exc}); delete it and rerun to remake it") from None
    images, labels = arrays["images"], arrays["labels"]
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DataError(f"{path}: images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
    if labels.shape != (images.shape[0],):
        raise DataError(f"{path}: {labels.shape[0]} labels for {images.shape[0]} images")
    classes = tuple(str(c) for c in arrays["classes"])
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataError(f"{path}: labels outside 0..{len(classes) - 1}")
    return Split(
        torch.from_numpy(images),
        torch.from_numpy(labels.astype(np.int64)),
        classes,
        torch.from_numpy(arrays["mean"].astype(np.float32)),
        torch.from_numpy(arrays["std"].astype(np.float32)),
    )
