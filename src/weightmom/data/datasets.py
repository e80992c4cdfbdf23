"""Preparing datasets: a config entry's source read into the prepared splits of the data
contract (weightmom.data.splits, which also reads them back).

The validation split is carved from the source's training split (stratified, seeded by
`split_seed`, `val_fraction` of it) and never trained on: every choice (a method's default,
a beta) is made on it; the test split only reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from weightmom.provenance.atomic import atomic_path
from weightmom.errors import DataError, SpecError
from weightmom.data.sources import READERS, stratified_indices


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
    splits["train"], splits["val"] = carve_validation(
        splits["train"], spec.get("val_fraction", 0.1), spec.get("split_seed", 0)
    )
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
