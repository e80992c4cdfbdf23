"""Where a result came from: a hash of the settings that produced it and the code version."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any


def settings_hash(settings: Any, parent: str = "") -> str:
    """Hash of `settings` (JSON-able) chained to the parent checkpoint's hash."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((parent + canonical).encode()).hexdigest()[:16]


def file_hexdigest(path: str | Path, algorithm: str, chunk: int = 1 << 20) -> str:
    """The hex digest of a file's bytes with hashlib's `algorithm`, read `chunk` bytes at a time."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def dense_settings_hash(dataset: str, model: str, seed: int, recipe: dict[str, Any], snapshots: list[int]) -> str:
    """The settings hash of a dense run (round 1 chains its own to it): torch-free, so the
    workflow can tell before any job which dense runs another experiment already made."""
    return settings_hash(
        {"dataset": dataset, "model": model, "seed": seed, "recipe": dict(recipe), "snapshots": snapshots}
    )


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout


def code_state() -> dict[str, Any]:
    """The commit checked out and whether the working tree differs from it (any tracked
    change or untracked file git does not ignore); "unknown" and None outside a git checkout."""
    commit = _git("rev-parse", "HEAD")
    changes = _git("--no-optional-locks", "status", "--porcelain")  # takes no index lock from the user's git
    return {
        "git_commit": commit.strip() if commit is not None else "unknown",
        "git_dirty": None if changes is None else bool(changes.strip()),
    }
