"""A digest of everything a checkpoint or resume file holds, stored inside the file.

torch.load does not check the CRCs of the zip archive it reads, so a few flipped bytes
inside a stored tensor (a bad disk, a broken copy) load silently as different weights.
The digest, computed at save time and checked at load time, turns that into an error.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from weightmom.provenance.atomic import atomic_path


def save_with_digest(payload: dict[str, Any], path: str | Path) -> None:
    """torch.save `payload` and its digest to `path`, atomically. Through a file object:
    torch then keeps a full disk's OSError as the error context (see atomic_path)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save({**payload, "digest": digest(payload)}, handle)


def digest_matches(payload: dict[str, Any]) -> bool:
    """Remove the digest stored in a loaded `payload`; whether it matches the rest."""
    return payload.pop("digest", None) == digest(payload)


def digest(value: Any) -> str:
    """BLAKE2b of `value`: nested dicts, lists and tuples of tensors and plain scalars.

    Dict keys are visited in sorted order (by repr), so equal contents give equal digests
    whatever order they were built in.
    """
    hasher = hashlib.blake2b(digest_size=32)
    _update(hasher, value)
    return hasher.hexdigest()


def _update(hasher: hashlib._Hash, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        hasher.update(f"tensor {tensor.dtype} {tuple(tensor.shape)};".encode())
        if tensor.numel():
            hasher.update(tensor.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, dict):
        hasher.update(f"dict {len(value)};".encode())
        for key in sorted(value, key=repr):
            hasher.update(f"{key!r}:".encode())
            _update(hasher, value[key])
    elif isinstance(value, (list, tuple)):
        hasher.update(f"{type(value).__name__} {len(value)};".encode())
        for item in value:
            _update(hasher, item)
    else:
        hasher.update(f"{value!r};".encode())
