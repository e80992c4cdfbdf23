"""Which device a job runs on: the config's `device`, resolved on the machine the job runs on.

    auto    a GPU when PyTorch sees one, else the CPU
    cuda    a GPU; an error where there is none
    cuda:N  GPU N exactly, as asked (no sharing rules apply)
    cpu     the CPU

`auto` and `cuda` claim a slot on one of the visible GPUs (weightmom.runtime.gpu_slots), so jobs
started side by side spread over the node's GPUs, at most `jobs_per_gpu` on each.
"""

from __future__ import annotations

import socket

import torch

from weightmom.errors import SpecError
from weightmom.runtime import gpu_slots


def visible_gpu_ids() -> list[str]:
    """A lasting identity per GPU this process sees: host and UUID (indices are renumbered
    per process by CUDA_VISIBLE_DEVICES, UUIDs are not)."""
    host = socket.gethostname()
    return [f"{host}-{torch.cuda.get_device_properties(index).uuid}" for index in range(torch.cuda.device_count())]


def resolve_device(name: str, jobs_per_gpu: int = 1) -> torch.device:
    if name == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    try:
        device = torch.device("cuda" if name == "auto" else name)
    except RuntimeError as exc:
        raise SpecError(f"device {name!r}: {exc}") from None
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise SpecError(f"device {name!r} asked for, but PyTorch sees no GPU here; use device: auto or cpu")
    if device.index is None:
        slot = gpu_slots.claim(visible_gpu_ids(), jobs_per_gpu)
        device = torch.device("cuda", slot.device_index)
    torch.cuda.set_device(device)
    return device


def device_kind(name: str) -> str:
    """ "cuda" or "cpu": the kind of device `name` gives a job, without claiming a GPU slot."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        return torch.device(name).type
    except RuntimeError as exc:
        raise SpecError(f"device {name!r}: {exc}") from None


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type
