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
import json
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from weightmom.errors import CheckpointError
from weightmom.provenance.atomic import atomic_path, atomic_write_text
from weightmom.provenance.record import file_hexdigest, settings_hash
from weightmom.training.checkpoint import SETTINGS_FILE, load_checkpoint, settings_path

#: beside a copied run: where it came from (its settings.json is the source's, its data path included)
REUSED_FILE = "reused_from.json"
#: the prepared files a dense run reads; test.npz is never trained on
TRAINED_ON = ("train.npz", "val.npz")


def dense_key(config_hash: str, code_digest: str, accelerator: dict[str, Any], device_type: str, data_dir: Path) -> str:
    """What decides a dense run's weights: its settings hash (dataset, model, seed, recipe,
    snapshots), the training code, the accelerator, the kind of device, and the bytes of
    the data it trains and validates on (not the path: another experiment's copy of the
    same data shares the run)."""
    data = {name: file_hexdigest(Path(data_dir) / name, "sha256") for name in TRAINED_ON}
    return settings_hash(
        {"code": code_digest, "accelerator": accelerator, "device": device_type, "data": data}, config_hash
    )


@contextmanager
def key_lock(lock_dir: str | Path, key: str) -> Iterator[None]:
    """Hold the lock of `key` (a file in `lock_dir`) for the block; say so in the log when
    another job holds it. A file system without locks (Lustre mounted without flock) gets a
    warning and no lock: two experiments may then both train, and the last copy wins."""
    Path(lock_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(lock_dir) / f"{key}.lock", "w") as handle:
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"dense run {key}: another job is training it; waiting to copy it", file=sys.stderr, flush=True)
                fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as error:
            print(f"warning: {lock_dir}: no file locks here ({error.strerror}); going on without one", file=sys.stderr)
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def candidates(pattern: str, key: str, exclude: Path) -> Iterator[Path]:
    """The folders `pattern` (a glob) matches, other than `exclude`, whose settings say they
    hold a finished dense run with `key`; copy_run checks the checkpoint itself."""
    for folder in sorted(Path(match) for match in glob.glob(pattern)):
        if folder.resolve() == exclude.resolve():
            continue
        try:
            settings = json.loads((folder / SETTINGS_FILE).read_text())
        except (OSError, ValueError):
            continue
        if settings.get("dense_key") == key and (folder / "curve.parquet").is_file():
            yield folder


def copy_run(source: Path, out: Path, curve_out: Path, key: str) -> bool:
    """Copy `source`'s run: its checkpoint first to a temporary name, loaded there (its
    digest checked) and refused unless it is a run with `key`; then the settings and the
    curve; then the checkpoint under its final name (a checkpoint there means the run is
    complete, as when it is trained), and a note of where they came from (REUSED_FILE).
    False, with nothing written, for a damaged source or one that changed on the way (its
    experiment reran meanwhile)."""
    try:
        with atomic_path(out) as checkpoint:
            shutil.copyfile(source / "checkpoint.pt", checkpoint)
            if load_checkpoint(checkpoint).settings.get("dense_key") != key:
                raise CheckpointError(f"{source}: no longer a dense run with key {key}")
            for name, target in ((SETTINGS_FILE, settings_path(out)), ("curve.parquet", curve_out)):
                with atomic_path(target) as temporary:
                    shutil.copyfile(source / name, temporary)
    except (OSError, CheckpointError):
        return False
    atomic_write_text(
        out.parent / REUSED_FILE, json.dumps({"dense_key": key, "copied_from": str(source)}, indent=2) + "\n"
    )
    return True
