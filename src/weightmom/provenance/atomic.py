"""The one way this package writes a file: to a temporary sibling, fsync, then rename.

A reader (or Snakemake) therefore sees either the previous file or the complete new one,
never a half-written file, whatever kills the writer. A writer killed outright (SIGKILL,
node failure) leaves its temporary behind; the next write of the same file removes it.
"""

from __future__ import annotations

import errno
import glob
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from weightmom.errors import StorageError

#: errors that mean "no room for this file": a full disk, a full quota, a file size limit
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _plain_file_mode() -> int:
    """The mode open() would give a new file. mkstemp makes files readable by their owner
    only; results shared with collaborators need the ordinary permissions."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temporary_prefix(pid: int) -> str:
    """Temporaries are named after their writer, so that a later writer can tell an
    abandoned one (writer dead) from one still being written."""
    return f".tmp-{pid}@{socket.gethostname()}-"


def _remove_abandoned_temporaries(target: Path) -> None:
    """Temporaries of `target` left by dead writers on this host (other hosts' are kept:
    their writers cannot be checked from here)."""
    host_prefix = glob.escape(_temporary_prefix(0).split("@", 1)[1])
    for leftover in target.parent.glob(f".tmp-*@{host_prefix}*-{glob.escape(target.name)}"):
        pid = leftover.name[len(".tmp-") : leftover.name.index("@")]
        if pid.isdigit() and not process_alive(int(pid)):
            leftover.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _no_room_error(error: BaseException) -> OSError | None:
    """The out-of-space OSError behind `error`, if any: libraries such as torch.save
    re-raise it as their own error type, keeping the OSError as the context."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _NO_ROOM:
            return error
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` atomically.

    The temporary name keeps the final suffix so that writers that infer a format from
    the extension (matplotlib, numpy) behave as they would on the real name. Running out
    of space raises StorageError naming `path`; the previous file, if any, is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temporaries(target)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=_temporary_prefix(os.getpid()), suffix="-" + target.name)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, _plain_file_mode())
        os.replace(tmp, target)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        no_room = _no_room_error(error)
        if no_room is not None:
            raise StorageError(
                f"{target}: cannot write it: {no_room.strerror}. Nothing was left half-written; "
                "free some space (or raise the limit) and rerun the same command"
            ) from error
        raise
    _fsync_directory(target.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
