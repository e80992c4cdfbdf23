"""Where a result came from: a hash of the settings that produced it and the code version."""

from __future__ import annotations

import hashlib
import json
import subprocess
from typing import Any


def settings_hash(settings: Any, parent: str = "") -> str:
    """Hash of `settings` (JSON-able) chained to the parent checkpoint's hash."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((parent + canonical).encode()).hexdigest()[:16]


def git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()
