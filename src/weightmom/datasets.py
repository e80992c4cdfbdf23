"""Prepared datasets: compact uint8 image arrays plus labels, one .npz file per split.

Contract (results/<experiment>/data/<dataset>/{train,val,test}.npz in the workflow):
    images  uint8  (N, C, H, W)
    labels  int64  (N,)
    classes str    (K,)     class names, index = label
    mean    float32 (C,)    per-channel mean of the *training* images, in [0, 1]
    std     float32 (C,)    per-channel std of the *training* images

The validation split is carved from the source's training split (stratified, seeded by
`split_seed`, `val_fraction` of it) and never trained on: every choice (a method's default,
a beta) is made on it; the test split only reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weightmom.atomic import atomic_path
from weightmom.errors import DataError, SpecError
from weightmom.sources import READERS, stratified_indices

SPLITS = ("train", "val", "test")
_ARRAYS = ("images", "labels", "classes", "mean", "std")


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

    def to(self, device: torch.device) -> "Split":
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


def prepare(spec: dict[str, Any], raw_dir: str | Path, out_dir: str | Path) -> None:
    """Build train.npz, val.npz and test.npz for the dataset described by `spec` (a config entry).

    `raw_dir` holds what the source downloads or unpacks (the workflow's data/raw/<md5>).
    """
    source = spec.get("source")
    if source not in READERS:
        raise SpecError(f"unknown dataset source {source!r}; known: {sorted(READERS)}")
    splits = READERS[source](spec, Path(raw_dir))
    subset = spec.get("subset", {})
    for name, (images, labels, classes) in splits.items():
        chosen = stratified_indices(labels, subset.get(name), spec.get("split_seed", 0))
        splits[name] = (images[chosen], labels[chosen], classes)
    splits["train"], splits["val"] = carve_validation(splits["train"], spec.get("val_fraction", 0.1), spec.get("split_seed", 0))
    train_images = splits["train"][0].astype(np.float32) / 255.0
    mean = train_images.mean(axis=(0, 2, 3)).astype(np.float32)
    std = train_images.std(axis=(0, 2, 3)).astype(np.float32)
    for name, (images, labels, classes) in splits.items():
        with atomic_path(Path(out_dir) / f"{name}.npz") as tmp:
            np.savez(tmp, images=images, labels=labels, classes=np.array(classes), mean=mean, std=std)


def carve_validation(train: Any, fraction: float, seed: int) -> tuple[Any, Any]:
    """Split (images, labels, classes) into a training part and a stratified validation
    part of `fraction` of it. Every class with two or more images has at least one on each
    side; a class with a single image keeps it for training."""
    from sklearn.model_selection import train_test_split

    images, labels, classes = train
    counts = np.bincount(labels)
    splittable = np.flatnonzero(np.isin(labels, np.flatnonzero(counts >= 2)))
    strata = labels[splittable]
    groups = len(np.unique(strata))
    size = min(max(round(fraction * len(labels)), groups), len(splittable) - groups)
    if groups == 0 or size < groups:
        raise DataError(
            f"{len(labels)} training images ({counts[counts > 0].min()} in the smallest class) are too few to hold "
            f"out a validation split of {fraction}; a class needs two images to appear on both sides"
        )
    held_out = train_test_split(splittable, test_size=size, stratify=strata, random_state=seed)[1]
    is_held_out = np.zeros(len(labels), dtype=bool)
    is_held_out[held_out] = True
    kept, held_out = np.flatnonzero(~is_held_out), np.flatnonzero(is_held_out)
    return (images[kept], labels[kept], classes), (images[held_out], labels[held_out], classes)


def load_split(path: str | Path) -> Split:
    """Load one prepared split, checking it against the data contract."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in _ARRAYS}
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

