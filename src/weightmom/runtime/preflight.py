"""What a run says about its cost and its device before its first job (the workflow calls
it once), and what a dry run says about the plan's cost.

device cpu          training runs here: its projected time on this CPU; past the config's
                    `max_cpu_hours` the run stops before its first job, saying how to go on
auto, a GPU here    the GPUs jobs will spread over
auto, no GPU        the same as cpu, with a warning that no GPU was found
cuda[:N], no GPU    an error: the config needs a GPU; nothing has been started
dry run (-n)        the plan's projected GPU-hours (speeds stored in the package, measured
                    on one GPU) and CPU hours on this machine (measured now); never stops

Projections count training (epochs x images / images per second): on the CPU one job at a
time; on the GPU at the measured aggregate speed of the config's jobs_per_gpu jobs sharing
it, with each training job's start-up, where gpu_speeds.yaml holds concurrent measurements
(benchmarks/concurrent_throughput.py), else one job at a time. Data preparation, evaluation
and export are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from weightmom.errors import SpecError
from weightmom.runtime.plan import PlannedJob
from weightmom.runtime.projection import (
    DatasetSize,
    Projection,
    StoredSpeeds,
    dataset_size,
    describe_duration,
    project,
    stored_gpu_speeds,
)
from weightmom.training.recipe import Accelerator

#: Images per batch when the CPU's speed is measured (see weightmom.runtime.projection.project).
CPU_PROBE_BATCH = 32


def gpu_summary(jobs_per_gpu: int) -> str:
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    listed = ", ".join(f"cuda:{i} {name}" for i, name in enumerate(names))
    return (
        f"GPUs: {listed}. Jobs take a free one each (at most {jobs_per_gpu} per GPU); "
        f"run `snakemake --cores all --resources gpu={len(names) * jobs_per_gpu}` to start no more GPU jobs than that."
    )


def _sizes(jobs: Sequence[PlannedJob], datasets: Mapping[str, Mapping[str, Any]], data_root: Path):
    return {name: dataset_size(datasets[name], data_root / name) for name in {job.dataset for job in jobs}}


def cpu_estimate(
    jobs: Sequence[PlannedJob], sizes: Mapping[str, DatasetSize | None], accelerator: Accelerator
) -> Projection:
    return project(jobs, sizes, torch.device("cpu"), accelerator, batches=1, probe_batch=CPU_PROBE_BATCH)


def describe_cpu(estimate: Projection, threads: int) -> str:
    rates = ", ".join(f"{model} {rate:,.0f} images/s" for model, rate in sorted(estimate.rates.items()))
    text = (
        f"This run trains {estimate.jobs:,} job(s), {estimate.epochs:,} epochs; at the speed measured just now on "
        f"this CPU with {threads} thread(s) per job ({rates}), about {describe_duration(estimate.seconds)} "
        f"one job after another."
    )
    if estimate.unsized:
        text += f" Not counted: datasets {', '.join(estimate.unsized)} (their size is known once prepared)."
    return text


def gpu_estimate(
    jobs: Sequence[PlannedJob], sizes: Mapping[str, DatasetSize | None], jobs_per_gpu: int = 1
) -> Projection:
    """The jobs' time on the GPU the package's speeds were measured on (jobs of a model
    without a stored speed are left out) when `jobs_per_gpu` jobs share it: training at the
    measured aggregate speed of that many jobs, plus each job's fixed cost shared the same
    way, where concurrent runs were measured; else training alone, one job at a time."""
    speeds = stored_gpu_speeds()
    counted = [job for job in jobs if job.model in speeds.images_per_second]
    rates = {model: speeds.rate(model, jobs_per_gpu) for model in {job.model for job in counted}}
    training = project(counted, sizes, torch.device("cpu"), rates=rates)
    fixed = sum(speeds.fixed_seconds(job.model, jobs_per_gpu) for job in counted if sizes.get(job.dataset) is not None)
    return replace(training, seconds=training.seconds + fixed)


def _sharing(speeds: StoredSpeeds, models: set[str], jobs_per_gpu: int) -> str:
    measured = sorted(model for model in models if model in speeds.concurrent)
    if not measured:
        return (
            "one job at a time, training only (concurrent throughput not measured: benchmarks/concurrent_throughput.py)"
        )
    chosen = ", ".join(f"{m} {speeds.chosen_jobs_per_gpu(m)}" for m in measured)
    return (
        f"jobs_per_gpu {jobs_per_gpu} at the measured aggregate speeds, fixed cost per job included; "
        f"the benchmark's jobs_per_gpu: {chosen}"
    )


def describe_gpu(jobs: Sequence[PlannedJob], sizes: Mapping[str, DatasetSize | None], jobs_per_gpu: int = 1) -> str:
    speeds, estimate = stored_gpu_speeds(), gpu_estimate(jobs, sizes, jobs_per_gpu)
    sharing = _sharing(speeds, {job.model for job in jobs}, jobs_per_gpu)
    text = (
        f"about {describe_duration(estimate.seconds)} on one {speeds.device} ({estimate.seconds / 3600:,.1f} "
        f"GPU-hours; {sharing}, at the speeds measured on {speeds.measured} by `{speeds.command}`)"
    )
    left_out = sorted({job.model for job in jobs} - set(speeds.images_per_second))
    not_counted = [f"models {', '.join(left_out)} (no GPU speed stored)"] if left_out else []
    if estimate.unsized:
        not_counted.append(f"datasets {', '.join(estimate.unsized)} (their size is known once prepared)")
    return text + (f"; not counted: {' and '.join(not_counted)}" if not_counted else "")


def over_budget(estimate: Projection, max_cpu_hours: float) -> bool:
    return estimate.seconds > max_cpu_hours * 3600


def go_on_hint(estimate: Projection) -> str:
    """The setting that lets the run go on, with a quarter to spare: the projection rests on
    one short timed batch per model, and a rerun that times a little slower must not stop."""
    return f"--config max_cpu_hours={math.ceil(1.25 * estimate.seconds / 3600)}"


def dry_run_cost(
    jobs: Sequence[PlannedJob],
    datasets: Mapping[str, Mapping[str, Any]],
    data_root: str | Path,
    accelerator: Mapping[str, Any] | None = None,
    threads: int = 1,
    max_cpu_hours: float = 2.0,
    done: int = 0,
    device: str = "auto",
    jobs_per_gpu: int = 1,
) -> str:
    """What `snakemake -n` prints: the cost of the training jobs still to run (`done` more
    are planned and already made) on a GPU and on this CPU; trains nothing but the short
    speed measurement."""
    if not jobs:
        return f"Projected cost: nothing left to train ({done} training job(s) already made)."
    sizes = _sizes(jobs, datasets, Path(data_root))
    estimate = cpu_estimate(jobs, sizes, Accelerator.from_dict(accelerator or {}))
    text = (
        f"Projected cost: {len(jobs):,} training job(s) left ({done:,} already made), "
        f"{sum(job.epochs for job in jobs):,} epochs: {describe_gpu(jobs, sizes, jobs_per_gpu)}; "
        f"about {describe_duration(estimate.seconds)} on this CPU ({threads} thread(s) per job, measured now). "
        f"Not counted: data preparation, evaluation and export, and each job's start-up where the GPU figure says training only and on the CPU."
    )
    if over_budget(estimate, max_cpu_hours) and not device.startswith("cuda"):
        where = "On this CPU (device: cpu)" if device == "cpu" else "Without a GPU"
        text += (
            f" {where}, the run would stop before its first job: past max_cpu_hours ({max_cpu_hours:g}); "
            f"`{go_on_hint(estimate)}` lets it go on."
        )
    return text


def preflight(
    device: str,
    jobs: Sequence[PlannedJob],
    datasets: Mapping[str, Mapping[str, Any]],
    data_root: str | Path,
    accelerator: Mapping[str, Any] | None = None,
    threads: int = 1,
    jobs_per_gpu: int = 1,
    max_cpu_hours: float = 2.0,
) -> str:
    """The message to show before the run starts; SpecError when the config needs a GPU
    and there is none, or when training on the CPU would take past `max_cpu_hours`."""
    if device != "cpu" and torch.cuda.is_available():
        count = torch.cuda.device_count()
        if device.startswith("cuda:") and int(device.split(":")[1]) >= count:
            raise SpecError(f"config device {device!r}: this machine has {count} GPU(s), cuda:0 .. cuda:{count - 1}")
        return gpu_summary(jobs_per_gpu)
    if device.startswith("cuda"):
        raise SpecError(
            f"config device {device!r} needs a GPU, but PyTorch sees none on this machine (torch {torch.__version__}, "
            f"CUDA build {torch.version.cuda or 'none'}); no job was started. Run on a GPU machine, or set "
            f"`device: auto` or `cpu` to train on the CPU"
        )
    if not jobs:
        return ""
    sizes = _sizes(jobs, datasets, Path(data_root))
    estimate = cpu_estimate(jobs, sizes, Accelerator.from_dict(accelerator or {}))
    cost = describe_cpu(estimate, threads)
    no_gpu = (
        "No GPU: PyTorch sees none on this machine, so `device: auto` trains on the CPU. " if device == "auto" else ""
    )
    if over_budget(estimate, max_cpu_hours):
        raise SpecError(
            f"{no_gpu}{cost} That is past the config's max_cpu_hours ({max_cpu_hours:g}), so no job was started. "
            f"With a GPU: {describe_gpu(jobs, sizes, jobs_per_gpu)}. To train here anyway, add `{go_on_hint(estimate)}` to the "
            f"snakemake command; `snakemake -n` shows the cost without running anything"
        )
    if device == "auto":
        return (
            no_gpu + cost + " Set `device: cuda` to stop instead where there is no GPU, or `device: cpu` to train on "
            "the CPU without this note."
        )
    return cost
