"""Fault injection for the tests: SIGKILL a process in the middle of writing a file.

Put this directory on PYTHONPATH and describe the faults in WEIGHTMOM_FAULTS, a JSON list
of {"file": path suffix, "when": "mid-write" | "before-rename" | "after-rename",
"kill": "job" | "snakemake", "marker": path}. When a weightmom process writes a file whose
path ends with `file`, it is killed at that moment: mid-write leaves a half-written
temporary, before-rename a complete one, after-rename the finished file (and none of the
job's later outputs). "snakemake" kills the Snakemake process running the job first, as a
node failure or the OOM killer would. Each fault fires once: the first to fire creates
its marker file.
"""

from __future__ import annotations

import json
import os
import signal
from contextlib import contextmanager
from pathlib import Path

FAULTS = json.loads(os.environ.get("WEIGHTMOM_FAULTS", "[]"))


def _claim(fault: dict) -> bool:
    try:
        os.close(os.open(fault["marker"], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _snakemake_ancestor() -> int | None:
    pid = os.getppid()
    while pid > 1:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:3]
        if any(os.path.basename(arg) == b"snakemake" for arg in argv):
            return pid
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def _die(fault: dict) -> None:
    if fault["kill"] == "snakemake":
        snakemake = _snakemake_ancestor()
        if snakemake is not None:
            os.kill(snakemake, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _install() -> None:
    from weightmom.provenance import atomic

    original = atomic.atomic_path

    @contextmanager
    def faulty_atomic_path(path):
        fault = next((f for f in FAULTS if str(path).endswith(f["file"]) and not os.path.exists(f["marker"])), None)
        with original(path) as tmp:
            yield tmp
            if fault is not None and fault["when"] in ("mid-write", "before-rename") and _claim(fault):
                if fault["when"] == "mid-write":
                    os.truncate(tmp, tmp.stat().st_size // 2)
                _die(fault)
        if fault is not None and fault["when"] == "after-rename" and _claim(fault):
            _die(fault)

    atomic.atomic_path = faulty_atomic_path


if FAULTS:
    _install()
