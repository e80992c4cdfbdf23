"""Readers that turn a dataset source into uint8 image arrays, one pair per split.

digits       scikit-learn's bundled 8x8 digits, a stratified train/test split
cifar10/100  the official python-format archive (downloaded and checksummed first)
imagefolder  class sub-folders of images under <root>/train and <root>/test, as
             torchvision's ImageFolder reads them (bring your own images): either a
             folder (`root`) or a tar archive of one (`archive`, a path or an address,
             with its `md5`), unpacked into data/raw/<md5>/unpacked-<md5>
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from weightmom.data.download import check_md5, unpack, verify
from weightmom.errors import DataError

Arrays = tuple[np.ndarray, np.ndarray, list[str]]
Splits = dict[str, Arrays]


def stratified_indices(labels: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """Sorted indices of `size` items with the class proportions of `labels` (all if None)."""
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    chosen = train_test_split(np.arange(len(labels)), train_size=size, stratify=labels, random_state=seed)[0]
    return np.sort(chosen)


def archive_name(url: str) -> str:
    """The archive's file name in data/raw/<md5>/: the last part of its address."""
    return os.path.basename(url)


def is_address(location: str) -> bool:
    """An http(s):// or file:// address (fetched into data/raw), not a plain local path."""
    return location.startswith(("http://", "https://", "file://"))


def archive_address(spec: dict[str, Any]) -> str | None:
    """Where the dataset's archive comes from: `url` (CIFAR) or `archive` (imagefolder)."""
    return spec.get("url") or spec.get("archive")


def local_archive(spec: dict[str, Any], raw_dir: Path) -> Path:
    """The archive file to read: a plain path as given, an address's copy in `raw_dir`."""
    location = archive_address(spec)
    return raw_dir / archive_name(location) if is_address(location) else Path(location).expanduser()


def folder_fingerprint(root: str | os.PathLike) -> str:
    """A digest of every file's relative path, size and modification time under `root`:
    it changes when an image is added, removed or replaced, so the data is prepared again."""
    digest = hashlib.sha256()
    root = Path(root).expanduser()
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            path = Path(folder) / name
            info = path.stat()
            digest.update(f"{path.relative_to(root)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def read_digits(spec: dict[str, Any], raw_dir: Path) -> Splits:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    classes = [str(c) for c in digits.target_names]
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=spec["test_fraction"], stratify=labels, random_state=spec["split_seed"]
    )
    return {"train": (train_x, train_y, classes), "test": (test_x, test_y, classes)}


_CIFAR_LAYOUT = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": ("batches.meta", b"label_names"),
        "labels": b"labels",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": ("meta", b"fine_label_names"),
        "labels": b"fine_labels",
    },
}


def read_cifar(spec: dict[str, Any], raw_dir: Path) -> Splits:
    layout = _CIFAR_LAYOUT[spec["source"]]
    archive = raw_dir / archive_name(spec["url"])
    verify(archive, spec["md5"])
    unpacked = raw_dir / f"unpacked-{spec['md5']}"
    unpack(archive, unpacked)
    folder = unpacked / layout["folder"]
    meta_file, meta_key = layout["meta"]
    classes = [name.decode() for name in _unpickle(folder / meta_file)[meta_key]]
    splits = {}
    for split in ("train", "test"):
        images, labels = [], []
        for name in layout[split]:
            batch = _unpickle(folder / name)
            try:
                images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.append(np.asarray(batch[layout["labels"]], dtype=np.int64))
            except (KeyError, ValueError) as exc:
                raise DataError(f"{folder / name}: not a CIFAR batch ({exc})") from None
        splits[split] = (np.concatenate(images), np.concatenate(labels), classes)
    return splits


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle, encoding="bytes")
    except FileNotFoundError:
        raise DataError(f"{path}: missing from the archive; is it the {path.parent.name} python version?") from None
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None


def _unpacked_imagefolder(spec: dict[str, Any], raw_dir: Path) -> Path:
    """Check the archive's MD5, unpack it and find the folder holding train/ and test/
    (the archive's top level or one folder down)."""
    archive = local_archive(spec, raw_dir)
    if is_address(spec["archive"]):
        verify(archive, spec["md5"])
    else:
        check_md5(archive, spec["md5"])
    unpacked = raw_dir / f"unpacked-{spec['md5']}"
    unpack(archive, unpacked)
    candidates = [unpacked, *sorted(p for p in unpacked.iterdir() if p.is_dir())]
    for candidate in candidates:
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise DataError(f"{archive}: holds no train/ and test/ folders at its top level or one folder down")


def read_imagefolder(spec: dict[str, Any], raw_dir: Path) -> Splits:
    from PIL import Image, UnidentifiedImageError
    from torchvision.datasets import ImageFolder

    root = Path(spec["root"]).expanduser() if "root" in spec else _unpacked_imagefolder(spec, raw_dir)
    folders = {}
    for split in ("train", "test"):
        if not (root / split).is_dir():
            raise DataError(
                f"{root / split}: no such folder; an imagefolder root holds train/<class>/ and test/<class>/"
            )
        try:
            folders[split] = ImageFolder(str(root / split))
        except FileNotFoundError as exc:
            raise DataError(f"{root / split}: {exc}") from None
    if folders["train"].classes != folders["test"].classes:
        only_train = sorted(set(folders["train"].classes) - set(folders["test"].classes))
        only_test = sorted(set(folders["test"].classes) - set(folders["train"].classes))
        raise DataError(
            f"{root}: train/ and test/ have different classes (only in train: {only_train}, only in test: {only_test})"
        )
    resize = spec.get("resize")
    splits = {}
    shape = None
    subset = spec.get("subset", {})
    for split, folder in folders.items():
        targets = np.asarray(folder.targets, dtype=np.int64)
        chosen = stratified_indices(targets, subset.get(split), spec.get("split_seed", 0))
        images = []
        for index in chosen:
            path = folder.samples[index][0]
            try:
                with Image.open(path) as image:
                    image = image.convert("RGB")
                    if resize:
                        image = image.resize((resize, resize), Image.BILINEAR)
                    array = np.asarray(image, dtype=np.uint8)
            except (UnidentifiedImageError, OSError) as exc:
                raise DataError(f"{path}: unreadable image ({exc})") from None
            if shape is None:
                shape = array.shape
            elif array.shape != shape:
                raise DataError(
                    f"{path}: image is {array.shape[1]}x{array.shape[0]}, earlier ones are {shape[1]}x{shape[0]}; "
                    "set `resize` in the dataset's config entry"
                )
            images.append(array)
        stacked = np.stack(images).transpose(0, 3, 1, 2).copy()
        splits[split] = (stacked, targets[chosen], list(folder.classes))
    return splits


READERS: dict[str, Callable[[dict[str, Any], Path], Splits]] = {
    "digits": read_digits,
    "cifar10": read_cifar,
    "cifar100": read_cifar,
    "imagefolder": read_imagefolder,
}
