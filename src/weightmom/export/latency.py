"""CPU inference latency of networks in PyTorch and onnxruntime.

One latency is the median wall time (time.perf_counter) of one forward pass on a fixed
batch, over several timed runs after a few untimed warm-up runs, on a stated number of
CPU threads (PyTorch's torch.set_num_threads, onnxruntime's intra-op threads; one
operator at a time). The networks and runtimes measured together are timed interleaved,
in turns: a load that comes and goes on the machine (other jobs) falls on all of them
alike, so their ratio stays meaningful where each number alone would drift. Within a
turn each timed run comes right after an untimed run of the same call, so every timed
run finds the caches as its own previous run left them: without that, whichever call
happens to run twice in a row (at the turn of the order) is timed warm and the others
cold, a bias of 10% and more on small networks.

Runs stop at `repeats` each, or earlier once every one has `min_repeats` and the
measurement has used `budget_s` seconds (a large network on one core).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

RUNTIMES = ("torch", "ort")
BATCHES = (1, 128)


@dataclass(frozen=True)
class Timing:
    median_ms: float
    runs: int


def time_interleaved(
    calls: Mapping[str, Callable[[], Any]],
    *,
    repeats: int = 20,
    warmup: int = 3,
    min_repeats: int = 5,
    budget_s: float = 30.0,
) -> dict[str, Timing]:
    """Median milliseconds of each call, timed in turns (forward order, then reverse),
    each timed run right after an untimed one of the same call."""
    if repeats < 1 or min_repeats < 1:
        raise ValueError("repeats and min_repeats must be >= 1")
    names = list(calls)
    for name in names:
        for _ in range(warmup):
            calls[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    started = time.perf_counter()
    for turn in range(repeats):
        if turn >= min_repeats and time.perf_counter() - started > budget_s:
            break
        for name in names if turn % 2 == 0 else reversed(names):
            calls[name]()  # untimed: the timed run starts from this call's own state
            begin = time.perf_counter()
            calls[name]()
            times[name].append((time.perf_counter() - begin) * 1000.0)
    return {name: Timing(statistics.median(values), len(values)) for name, values in times.items()}


def _torch_call(model: nn.Module, batch: torch.Tensor) -> Callable[[], Any]:
    def call() -> Any:
        with torch.inference_mode():
            return model(batch)

    return call


def _ort_call(session: Any, batch: torch.Tensor) -> Callable[[], Any]:
    from weightmom.export.onnx_export import INPUT_NAME

    feed = {INPUT_NAME: np.ascontiguousarray(batch.numpy())}
    return lambda: session.run(None, feed)


def cpu_latency(
    networks: Mapping[str, tuple[nn.Module, str | Path]],
    images: torch.Tensor,
    *,
    threads: int = 1,
    batches: tuple[int, ...] = BATCHES,
    **timing: Any,
) -> dict[str, dict[str, Timing]]:
    """Latency of each network (its PyTorch module and its ONNX file) in both runtimes, at
    each batch size: {network: {"torch_b1": Timing, "ort_b1": ..., "torch_b128": ...}}.
    A batch is the first images of `images` (repeated when there are fewer); everything
    runs on the CPU."""
    from weightmom.export.onnx_export import session

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        models = {name: model.cpu().eval() for name, (model, _) in networks.items()}
        sessions = {name: session(onnx_path, threads) for name, (_, onnx_path) in networks.items()}
        results: dict[str, dict[str, Timing]] = {name: {} for name in networks}
        for size in batches:
            batch = _batch(images, size)
            calls: dict[tuple[str, str], Callable[[], Any]] = {}
            for name in networks:
                calls[(name, "torch")] = _torch_call(models[name], batch)
                calls[(name, "ort")] = _ort_call(sessions[name], batch)
            for (name, runtime), value in time_interleaved(calls, **timing).items():
                results[name][f"{runtime}_b{size}"] = value
        return results
    finally:
        torch.set_num_threads(previous)


def _batch(images: torch.Tensor, size: int) -> torch.Tensor:
    images = images.detach().cpu().float()
    if images.shape[0] < size:
        images = images.repeat(-(-size // images.shape[0]), 1, 1, 1)
    return images[:size].contiguous()


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"
