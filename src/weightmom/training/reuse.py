"""One dense model per recipe: a dense run another experiment already made, found by its settings.

Experiments that train the same dense network (same prepared data, model, seed, recipe,
snapshots, accelerator, device type and training code) would train it twice. Each dense
run records a `dense_key` over exactly those settings; the train step, given the dense
folders of other experiments, copies a finished run with its key instead of training.
The copy is byte for byte (settings, curve, checkpoint, in the order a training step
writes them), so every experiment's folder still holds all it needs: DVC pushes and pulls
each experiment on its own, and stores the shared files once.

Two experiments that want the same key at once take turns on a lock file named by it:
the second waits, then finds the first's run. The kernel drops the lock of a killed job.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from weightmom.errors import CheckpointError
from weightmom.provenance.atomic import atomic_path
from weightmom.provenance.record import settings_hash
from weightmom.training.checkpoint import SETTINGS_FILE, load_checkpoint, settings_path

#: the prepared files a dense run reads; test.npz is never trained on
TRAINED_ON = ("train.npz", "val.npz")


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def dense_key(config_hash: str, code_digest: str, accelerator: dict[str, Any], device_type: str, data_dir: Path) -> str:
    """What decides a dense run's weights: its settings hash (dataset, model, seed, recipe,
    snapshots), the training code, the accelerator, the kind of device, and the bytes of
    the data it trains and validates on (not the path: another experiment's copy of the
    same data shares the run)."""
    data = {name: file_sha256(Path(data_dir) / name) for name in TRAINED_ON}
    return settings_hash(
        {"code": code_digest, "accelerator": accelerator, "device": device_type, "data": data}, config_hash
    )


@contextmanager
def key_lock(lock_dir: str | Path, key: str) -> Iterator[None]:
    """Hold the lock of `key` (a file in `lock_dir`) for the block."""
    Path(lock_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(lock_dir) / f"{key}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_run(pattern: str, key: str, exclude: Path) -> Path | None:
    """A finished dense run with `key` among the folders `pattern` (a glob) matches, other
    than `exclude`: its settings carry the key and its checkpoint loads with a matching
    digest. A damaged candidate is passed over, not copied."""
    for folder in sorted(Path(match) for match in glob.glob(pattern)):
        if folder.resolve() == exclude.resolve():
            continue
        try:
            settings = json.loads((folder / SETTINGS_FILE).read_text())
        except (OSError, ValueError):
            continue
        if settings.get("dense_key") != key or not (folder / "curve.parquet").is_file():
            continue
        try:
            checkpoint = load_checkpoint(folder / "checkpoint.pt")
        except CheckpointError:
            continue
        if checkpoint.settings.get("dense_key") == key:
            return folder
    return None


def copy_run(source: Path, out: Path, curve_out: Path) -> None:
    """The settings, the curve, then the checkpoint, each written atomically: a checkpoint
    under its final name means the run is complete, as when it is trained."""
    for name, target in ((SETTINGS_FILE, settings_path(out)), ("curve.parquet", curve_out), ("checkpoint.pt", out)):
        with atomic_path(target) as temporary:
            shutil.copyfile(source / name, temporary)
