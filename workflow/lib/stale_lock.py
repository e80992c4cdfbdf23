"""Stale Snakemake locks (used by workflow/rules/locks.smk; plain Python, no Snakemake).

A Snakemake run killed outright (SIGKILL, the OOM killer, a lost login node) leaves
.snakemake/locks behind, and the next run stops with "Directory cannot be locked". Each run
records who holds the lock (host, boot, pid and its start time); the next run on this
machine removes a lock whose holder is gone when no Snakemake process, and no job a killed
Snakemake left running, is alive in this directory. A live holder, orphaned jobs, or a
holder on another machine are left alone with a message giving the exact command to run.
Linux /proc is used to see processes. Where another process's working directory cannot be
read (some sandboxes and containers refuse it), a job is recognised instead by its process
group: a killed Snakemake's jobs stay in the group recorded in its holder record.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path

from weightmom.provenance.atomic import atomic_write_text, process_alive

LOCK_DIR = Path(".snakemake/locks")
HOLDER_PREFIX = "weightmom-holder-"


def boot_id():
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...), or
    None if the process does not exist. World-readable, unlike its working directory."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_start(pid):
    """Start time of `pid` in clock ticks since boot (None if it does not exist, or is a
    zombie: killed, but not yet reaped by a parent that may never do it, as in a container
    without an init process): with the pid it identifies a process even after the pid is reused."""
    fields = process_fields(pid)
    return int(fields[19]) if fields and fields[0] != "Z" else None


def parent_pid(pid):
    fields = process_fields(pid)
    return int(fields[1]) if fields else 0


def process_group(pid):
    fields = process_fields(pid)
    return int(fields[2]) if fields else None


def working_directory(pid):
    """(device, inode) of the working directory of `pid`; None where it cannot be read (another
    user's process, or a sandbox that hides it)."""
    try:
        found = os.stat(f"/proc/{pid}/cwd")
    except OSError:
        return None
    return found.st_dev, found.st_ino


def lineage():
    """This process and its ancestors: they are not 'another Snakemake run'."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        pid = parent_pid(pid)
    return pids


def is_snakemake(argv):
    return any(os.path.basename(arg) == b"snakemake" for arg in argv[:3])


def is_weightmom_job(argv):
    """A pipeline step (`python [interpreter options] -m weightmom <step>`), as the rules start them."""
    return any(argv[i : i + 2] == [b"-m", b"weightmom"] for i in range(1, min(len(argv), 6)))


def processes_here(matches, groups=()):
    """(pid, command line) of the processes other than this one (and its ancestors) whose
    command line `matches` and whose working directory is this one; a process whose working
    directory cannot be read counts when its process group is one of `groups`."""
    here = os.stat(".")
    here, mine, found = (here.st_dev, here.st_ino), lineage(), []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid in mine:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except OSError:
            continue
        if not matches(argv):
            continue
        directory = working_directory(pid)
        if directory == here or (directory is None and process_group(pid) in groups):
            found.append((pid, b" ".join(argv).decode(errors="replace")[:200]))
    return found


def lock_holders():
    holders = []
    for path in LOCK_DIR.glob(f"{HOLDER_PREFIX}*.json"):
        try:
            holder = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(holder, dict) and isinstance(holder.get("pid"), int):
            holders.append(holder)
    return holders


def holder_is_alive(holder):
    """True or False on this machine; None when the holder ran on another one."""
    if holder.get("host") != socket.gethostname():
        return None
    if holder.get("boot") != boot_id():
        return False
    if not Path("/proc/self/stat").exists():  # no /proc: the pid alone has to do
        return process_alive(holder.get("pid"))
    return process_start(holder.get("pid")) == holder.get("start")


def clear_stale_lock():
    """Remove the lock of a run that is gone; explain a lock that is not stale."""
    if not any(LOCK_DIR.glob("*.lock")):
        return
    holders = lock_holders()
    running = processes_here(is_snakemake)
    running += [
        (h["pid"], "the run holding the lock") for h in holders if holder_is_alive(h) and h["pid"] not in dict(running)
    ]
    elsewhere = [h for h in holders if holder_is_alive(h) is None]
    if running:
        pids = ", ".join(f"pid {pid} ({command})" for pid, command in running)
        print(
            f"weightmom: Snakemake is already running in this directory: {pids}. Runs of different "
            "experiments go on side by side; a run that writes the same files is refused by its lock: "
            f"wait for that run to finish, or stop it with `kill {running[0][0]}` (it then releases the "
            "lock), and run the same command again. A lock left by a killed run is removed by the next "
            "run once no other Snakemake runs here.",
            file=sys.stderr,
        )
    elif elsewhere:
        where = ", ".join(f"{h.get('host')} (pid {h.get('pid')})" for h in elsewhere)
        print(
            f"weightmom: the lock in {LOCK_DIR} is held by a Snakemake run on {where}, which cannot be "
            "checked from this machine. If that run is no longer alive, run `snakemake --unlock` "
            "here, then the same command again.",
            file=sys.stderr,
        )
    elif orphans := processes_here(
        is_weightmom_job, groups={h["group"] for h in holders if isinstance(h.get("group"), int)}
    ):
        pids = " ".join(str(pid) for pid, _ in orphans)
        print(
            "weightmom: jobs of a killed Snakemake run still run in this directory: "
            + ", ".join(f"pid {pid} ({command})" for pid, command in orphans)
            + f". Wait for them to end, or stop them with `kill {pids}`, then run the same command again.",
            file=sys.stderr,
        )
    else:
        gone = ", ".join(f"pid {h.get('pid')}" for h in holders) or "a run that left no record"
        shutil.rmtree(LOCK_DIR, ignore_errors=True)
        print(
            f"weightmom: removed a stale Snakemake lock left by a killed run ({gone}); "
            "no Snakemake process is alive in this directory.",
            file=sys.stderr,
        )


def record_lock_holder():
    """Called once this run holds the lock (the onstart hook)."""
    if not any(LOCK_DIR.glob("*.lock")):
        return  # --nolock
    pid = os.getpid()
    holder = {
        "host": socket.gethostname(),
        "boot": boot_id(),
        "pid": pid,
        "start": process_start(pid),
        "group": os.getpgrp(),
    }
    atomic_write_text(LOCK_DIR / f"{HOLDER_PREFIX}{holder['host']}-{pid}.json", json.dumps(holder))
