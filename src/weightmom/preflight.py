"""What a run says about its device before its first job (the workflow calls it once).

device cpu          nothing to say
auto, a GPU here    the GPUs jobs will spread over
auto, no GPU        a warning: training runs on the CPU, with the planned training's
                    projected time on this machine (weightmom.projection)
cuda[:N], no GPU    an error: the config needs a GPU; nothing has been started
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from weightmom.errors import SpecError
from weightmom.plan import PlannedJob
from weightmom.projection import dataset_size, describe_duration, project
from weightmom.recipe import Accelerator


def gpu_summary(jobs_per_gpu: int) -> str:
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    listed = ", ".join(f"cuda:{i} {name}" for i, name in enumerate(names))
    return (
        f"GPUs: {listed}. Jobs take a free one each (at most {jobs_per_gpu} per GPU); "
        f"run `snakemake --cores all --resources gpu={len(names) * jobs_per_gpu}` to start no more GPU jobs than that."
    )


def cpu_projection(
    jobs: Sequence[PlannedJob],
    datasets: Mapping[str, Mapping[str, Any]],
    data_root: Path,
    accelerator: Accelerator,
    threads: int,
) -> str:
    if not jobs:
        return "This run trains nothing."
    sizes = {name: dataset_size(datasets[name], data_root / name) for name in {job.dataset for job in jobs}}
    estimate = project(jobs, sizes, torch.device("cpu"), accelerator)
    rates = ", ".join(f"{model} {rate:,.0f} images/s" for model, rate in sorted(estimate.rates.items()))
    text = (
        f"This run trains {estimate.jobs:,} job(s), {estimate.epochs:,} epochs; at the speed measured just now on "
        f"this CPU with {threads} thread(s) per job ({rates}), about {describe_duration(estimate.seconds)} "
        f"one job after another."
    )
    if estimate.unsized:
        text += f" Not counted: datasets {', '.join(estimate.unsized)} (their size is known once prepared)."
    return text


def preflight(
    device: str,
    jobs: Sequence[PlannedJob],
    datasets: Mapping[str, Mapping[str, Any]],
    data_root: str | Path,
    accelerator: Mapping[str, Any] | None = None,
    threads: int = 1,
    jobs_per_gpu: int = 1,
) -> str:
    """The message to show before the run starts; SpecError when the config needs a GPU
    and there is none."""
    if device == "cpu":
        return ""
    speed = Accelerator.from_dict(accelerator or {})
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        if device.startswith("cuda:") and int(device.split(":")[1]) >= count:
            raise SpecError(f"config device {device!r}: this machine has {count} GPU(s), cuda:0 .. cuda:{count - 1}")
        return gpu_summary(jobs_per_gpu)
    if device == "auto":
        return (
            "No GPU: PyTorch sees none on this machine, so `device: auto` trains on the CPU. "
            + cpu_projection(jobs, datasets, Path(data_root), speed, threads)
            + " Set `device: cuda` to stop instead where there is no GPU, or `device: cpu` to train on the CPU without this note."
        )
    raise SpecError(
        f"config device {device!r} needs a GPU, but PyTorch sees none on this machine (torch {torch.__version__}, "
        f"CUDA build {torch.version.cuda or 'none'}); no job was started. Run on a GPU machine, or set "
        f"`device: auto` or `cpu` to train on the CPU"
    )
