"""Which GPU a job runs on when several jobs share a node's GPUs.

Snakemake caps how many GPU jobs run at once (`--resources gpu=N`) but does not say which
device each job should take. A job claims a slot, one of `jobs_per_gpu` per device, by
holding an exclusive `flock` on a lock file named after the device's identity (its UUID),
and keeps it for as long as the process lives. The kernel drops the lock when the process
ends, however it ends (kill -9 included), so a job that dies never keeps its GPU. Slots fill
breadth-first: every device gets a first job before any gets a second. When every slot is
taken the job waits for one, saying so in its log.

Lock files live on the node's own disk (flock over NFS is unreliable, and devices are
per node anyway): `$WEIGHTMOM_GPU_LOCKS`, else `<tmp>/weightmom-gpu-slots-<uid>`. Under
SLURM a job sees only the GPUs it was given, and since locks are named by UUID, jobs with
different GPUs never wait for each other.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOCK_DIR_VARIABLE = "WEIGHTMOM_GPU_LOCKS"

_held: list[IO[bytes]] = []  # open lock files: a slot is held while its file stays open
_claimed: list[Slot] = []  # what claim() gave this process: one slot per process


@dataclass(frozen=True)
class Slot:
    device_index: int  # position among the devices this process sees (cuda:<index>)
    device_id: str
    slot: int
    lock_file: Path


def lock_dir() -> Path:
    configured = os.environ.get(LOCK_DIR_VARIABLE)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / f"weightmom-gpu-slots-{os.getuid()}"


def _lock_name(device_id: str, slot: int) -> str:
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', device_id)}.slot{slot}.lock"


def _try_lock(path: Path) -> IO[bytes] | None:
    handle = open(path, "ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def try_claim(device_ids: Sequence[str], jobs_per_gpu: int, directory: Path | None = None) -> Slot | None:
    """A free slot on the least busy device, claimed for the life of this process, or None
    when all are taken. Every free slot is locked for a moment to count them, then all but
    the chosen one are let go."""
    if jobs_per_gpu < 1:
        raise ValueError(f"jobs_per_gpu must be >= 1, got {jobs_per_gpu}")
    folder = directory or lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    free: dict[tuple[int, int], IO[bytes]] = {}
    for index, device_id in enumerate(device_ids):
        for slot in range(jobs_per_gpu):
            handle = _try_lock(folder / _lock_name(device_id, slot))
            if handle is not None:
                free[(index, slot)] = handle
    if not free:
        return None
    busy = {index: jobs_per_gpu - sum(i == index for i, _ in free) for index in range(len(device_ids))}
    index, slot = min(free, key=lambda key: (busy[key[0]], key))
    for key, handle in free.items():
        if key != (index, slot):
            handle.close()
    handle = free[(index, slot)]
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n".encode())
    handle.flush()
    _held.append(handle)
    return Slot(index, device_ids[index], slot, folder / _lock_name(device_ids[index], slot))


def claim(
    device_ids: Sequence[str],
    jobs_per_gpu: int,
    directory: Path | None = None,
    poll_seconds: float = 2.0,
    log: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> Slot:
    """Wait for a free slot and claim it (see the module's docstring); a process that
    already holds one gets the same slot again."""
    if _claimed:
        return _claimed[0]
    if not device_ids:
        raise ValueError("no GPU to claim a slot on")
    waited = False
    while True:
        slot = try_claim(device_ids, jobs_per_gpu, directory)
        if slot is not None:
            if waited:
                log(f"GPU slot free: cuda:{slot.device_index}")
            _claimed.append(slot)
            return slot
        if not waited:
            log(
                f"waiting for a GPU: all {len(device_ids)} device(s) already run {jobs_per_gpu} job(s) each "
                f"(jobs_per_gpu); give Snakemake --resources gpu=<devices x jobs_per_gpu> to start no more than fit"
            )
            waited = True
        time.sleep(poll_seconds)


def release_all() -> None:
    """Give back every slot this process holds (a process's exit does the same)."""
    _claimed.clear()
    while _held:
        _held.pop().close()
