"""Fetch a dataset archive: temporary name, progress bar, bounded retries, MD5 check.

Accepts http(s):// and file:// addresses. An archive already at the destination is
accepted when its checksum matches (a user may place a downloaded copy in data/raw).
Whatever goes wrong, no file is left at the destination unless its checksum matched.
"""

from __future__ import annotations

import http.client
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from weightmom.errors import DataError
from weightmom.provenance.atomic import atomic_path
from weightmom.provenance.record import file_hexdigest

CHUNK = 1 << 20


def md5sum(path: Path) -> str:
    return file_hexdigest(path, "md5", CHUNK)


def fetch(url: str, destination: str | os.PathLike, md5: str, *, retries: int, timeout: float) -> Path:
    """Make `destination` a verified copy of `url`; returns its path."""
    destination = Path(destination)
    if destination.exists():
        actual = md5sum(destination)
        if actual == md5:
            return destination
        destination.unlink()
        print(f"{destination}: checksum {actual} is not {md5}; fetching again", file=sys.stderr)
    last_error: Exception | None = None
    for attempt in range(1, retries + 1):
        try:
            with atomic_path(destination) as tmp:
                _copy(url, tmp, destination.name, timeout)
                actual = md5sum(tmp)
                if actual != md5:
                    raise DataError(
                        f"{destination} from {url}: checksum mismatch, expected MD5 {md5}, got {actual}; "
                        "the file was deleted"
                    )
            return destination
        except DataError:
            raise
        except (OSError, urllib.error.URLError, http.client.HTTPException, ValueError) as exc:
            last_error = exc
            if attempt < retries:
                print(f"{url}: attempt {attempt} of {retries} failed ({exc}); retrying", file=sys.stderr)
                time.sleep(min(2.0**attempt, 10.0) * 0.1)
    raise DataError(f"{url}: download of {destination.name} failed after {retries} attempts: {last_error}")


def _copy(url: str, target: Path, label: str, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length else None
        received = 0
        with (
            open(target, "wb") as out,
            tqdm(total=expected, unit="B", unit_scale=True, desc=label, file=sys.stderr, mininterval=1.0) as progress,
        ):
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                received += len(block)
                progress.update(len(block))
    if expected is not None and received != expected:
        raise OSError(f"transfer broken: received {received} of {expected} bytes")


def _wrong_checksum(path: Path, md5: str) -> str | None:
    """The archive's actual MD5 when it is not `md5` (None when it matches)."""
    if not path.is_file():
        raise DataError(f"{path}: archive not found")
    actual = md5sum(path)
    return None if actual == md5 else actual


def check_md5(path: Path, md5: str) -> None:
    """Stop on a user's own file (never deleted) whose checksum is not the configured one."""
    actual = _wrong_checksum(path, md5)
    if actual is not None:
        raise DataError(
            f"{path}: checksum mismatch, expected MD5 {md5}, got {actual}; if the images changed on purpose, "
            "put the new MD5 in the config"
        )


def verify(path: Path, md5: str) -> None:
    """Stop on a downloaded file whose checksum is wrong, deleting it so that no later run trusts it."""
    actual = _wrong_checksum(path, md5)
    if actual is not None:
        path.unlink()
        raise DataError(f"{path}: checksum mismatch, expected MD5 {md5}, got {actual}; the file was deleted")


def unpack(archive: Path, directory: Path) -> None:
    """Extract a tar archive into `directory` once. The directory only ever appears whole
    (by a rename), so one that exists is kept: callers name it by the archive's checksum
    (unpacked-<md5>), which they have just verified. Two jobs unpacking the same
    archive at once stage apart and the first rename wins."""
    import tarfile
    import tempfile

    if directory.is_dir():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{directory.name}-", dir=directory.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        os.replace(staging, directory)
    except (tarfile.TarError, EOFError) as exc:
        raise DataError(f"{archive}: cannot be unpacked ({exc})") from None
    except OSError as exc:
        if not directory.is_dir():  # not a rename lost to a concurrent job
            raise DataError(f"{archive}: cannot be unpacked ({exc})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
