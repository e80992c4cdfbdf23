"""The one atomic-write helper: all or nothing, with ordinary permissions."""

import os
import socket
import stat
import subprocess
import sys

import pytest

from weightmom.provenance.atomic import atomic_path, atomic_write_text


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.md"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.md"]


def test_finished_file_has_the_umask_permissions_not_mkstemps(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.txt").stat().st_mode) == 0o644


def test_temporary_name_keeps_the_suffix(tmp_path):
    with atomic_path(tmp_path / "figure.png") as tmp:
        assert tmp.name.endswith("figure.png") and tmp.parent == tmp_path
        tmp.write_bytes(b"png")
    assert (tmp_path / "figure.png").read_bytes() == b"png"


def _write_under_file_size_limit(target: str, limit: int) -> str:
    """Run a write of 1 MB in a child process whose files may not exceed `limit` bytes."""
    code = f"""
import resource, sys, torch
from weightmom.training.checkpoint import Checkpoint, save_checkpoint
from weightmom.errors import StorageError
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
checkpoint = Checkpoint("mlp", "digits", (1, 8, 8), 10, {{"w": torch.zeros(250_000)}}, {{}})
try:
    save_checkpoint(checkpoint, {target!r})
except StorageError as error:
    print(error)
    sys.exit(2)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    return result.stdout


def test_no_room_is_a_storage_error_naming_the_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"previous")
    message = _write_under_file_size_limit(str(target), 100_000)
    assert message.startswith(f"{target}: cannot write it: File too large")
    assert "rerun the same command" in message
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


def test_temporaries_of_dead_writers_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    abandoned = tmp_path / f".tmp-{dead.stdout.strip()}@{host}-abc-table.md"
    live = tmp_path / f".tmp-{os.getppid()}@{host}-def-table.md"
    elsewhere = tmp_path / ".tmp-1@other-host-ghi-table.md"
    other_file = tmp_path / f".tmp-{dead.stdout.strip()}@{host}-jkl-figure.png"
    for path in (abandoned, live, elsewhere, other_file):
        path.write_text("half")
    atomic_write_text(tmp_path / "table.md", "done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["table.md", live.name, elsewhere.name, other_file.name]
    )
