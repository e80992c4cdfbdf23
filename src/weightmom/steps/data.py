"""Steps that fetch a dataset's archive and turn a dataset entry into prepared splits."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from weightmom.data import datasets
from weightmom.data.download import fetch
from weightmom.data.sources import archive_address, local_archive


def download_data(spec: Mapping[str, Any], raw_dir: str | Path) -> None:
    """Fetch the dataset's archive into `raw_dir`, verified against its MD5."""
    fetch(
        archive_address(spec),
        local_archive(spec, Path(raw_dir)),
        spec["md5"],
        retries=spec["retries"],
        timeout=spec["timeout"],
    )


def prepare_data(spec: Mapping[str, Any], raw_dir: str | Path, out_dir: str | Path) -> None:
    datasets.prepare(dict(spec), raw_dir, out_dir)
