"""How long a config's training takes on a device: the jobs it plans, times the epoch time
measured on that device for each model, or stored for a GPU (gpu_speeds.yaml, see
`stored_gpu_speeds`).

The plan is weightmom.runtime.plan's; a dataset not yet prepared is sized from its source (see
`dataset_size`). An epoch's time is measured with the project's trainer on synthetic images
of the dataset's shape, at the recipe's batch size: a short timed run after a warm-up batch
(see `images_per_second`).
"""

from __future__ import annotations

import math
import re
import tarfile
import time
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.datasets.folder import IMG_EXTENSIONS

from weightmom.data.splits import Split
from weightmom.image_shapes import SOURCE_SHAPES
from weightmom.models import build_model
from weightmom.runtime.plan import PlannedJob
from weightmom.training.loop import train
from weightmom.training.recipe import Accelerator, Recipe

#: A training image in an imagefolder archive: train/<class>/<image>, at the top or one folder
#: down, as the reader finds them (torchvision's ImageFolder extensions).
TRAIN_IMAGE = re.compile(
    r"^(?:\./)?(?:[^/]+/)?train/[^/]+/[^/]+(" + "|".join(re.escape(e) for e in IMG_EXTENSIONS) + ")$", re.I
)


@dataclass(frozen=True)
class DatasetSize:
    input_shape: tuple[int, int, int]
    num_classes: int
    train_images: int


def dataset_size(spec: Mapping[str, Any], prepared: Path | None = None) -> DatasetSize | None:
    """Shape, classes and training images of a dataset: read from its prepared train.npz
    when there is one, else from its source: known for the built-in ones, counted in an
    imagefolder's folder or local archive (None for one still to be downloaded)."""
    if prepared is not None and (prepared / "train.npz").exists():
        try:
            with np.load(prepared / "train.npz") as arrays:
                images, classes = arrays["images"], arrays["classes"]
                return DatasetSize(tuple(images.shape[1:]), len(classes), images.shape[0])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # a damaged file: the job that reads it names it; sized from the source here
    known = SOURCE_SHAPES.get(spec.get("source")) or imagefolder_contents(spec)
    if known is None:
        return None
    shape, classes, images = known
    if spec.get("source") == "digits":  # scikit-learn's split: the test part rounded up
        images -= math.ceil(images * spec.get("test_fraction", 0.25))
    images = spec.get("subset", {}).get("train", images)
    return DatasetSize(shape, classes, images - round(images * spec.get("val_fraction", 0.1)))


def imagefolder_contents(spec: Mapping[str, Any]) -> tuple[tuple[int, int, int], int, int] | None:
    """(image shape, classes, training images) of an imagefolder source, counted in its
    `root` or in its local archive's listing (a CIFAR-sized .tar.gz takes a few seconds),
    the shape from its first training image as the reader makes it (RGB, `resize`d). None
    for an address still to be downloaded, or a folder or archive that cannot be read (the
    config check and the reader name those)."""
    location = spec.get("root") or spec.get("archive", "")
    if spec.get("source") != "imagefolder" or location.startswith(("http://", "https://")):
        return None
    path = Path(location.removeprefix("file://")).expanduser()
    try:
        if path.is_dir():
            images = sorted(p for p in path.glob("train/*/*") if p.suffix.lower() in IMG_EXTENSIONS)
            classes = {image.parent.name for image in images}
            return _image_shape(spec, images[0].open("rb"), len(classes), len(images)) if images else None
        with tarfile.open(path) as archive:
            members = [m for m in archive if m.isfile() and TRAIN_IMAGE.search(m.name)]
            classes = {Path(m.name).parent.name for m in members}
            return _image_shape(spec, archive.extractfile(members[0]), len(classes), len(members)) if members else None
    except (OSError, tarfile.TarError):
        return None


def _image_shape(spec: Mapping[str, Any], first, classes: int, images: int) -> tuple[tuple[int, int, int], int, int]:
    """(shape, classes, images) with the shape the reader gives the `first` image (an open
    file): RGB, `resize`d when the spec says so."""
    from PIL import Image

    with first, Image.open(first) as image:
        width, height = (spec["resize"],) * 2 if "resize" in spec else image.size
    return (3, height, width), classes, images


@dataclass(frozen=True)
class StoredSpeeds:
    """Training images/s per model measured on one GPU, one job at a time, and where
    measured (benchmarks/concurrent_throughput.py) the aggregate with K jobs sharing it and
    each job's fixed cost (gpu_speeds.yaml)."""

    device: str
    measured: str
    command: str
    images_per_second: dict[str, float]
    concurrent: dict[str, dict[str, Any]] = field(default_factory=dict)

    def chosen_jobs_per_gpu(self, model: str) -> int | None:
        """The K the concurrent benchmark chose for `model` (None where not measured)."""
        measured = self.concurrent.get(model)
        return int(measured["jobs_per_gpu"]) if measured else None

    def _measured_k(self, model: str, jobs_per_gpu: int) -> int | None:
        """The largest measured K not above the run's jobs_per_gpu (None where not measured)."""
        measured = self.concurrent.get(model, {}).get("aggregate_images_per_second", {})
        below = [int(k) for k in measured if int(k) <= jobs_per_gpu]
        return max(below) if below else None

    def rate(self, model: str, jobs_per_gpu: int = 1) -> float:
        """Images/s the GPU gives `model`'s jobs together when the run lets `jobs_per_gpu`
        share it: the measured aggregate at that K (or the largest measured below), else one
        job's speed."""
        k = self._measured_k(model, jobs_per_gpu)
        if k is None:
            return self.images_per_second[model]
        return float(self.concurrent[model]["aggregate_images_per_second"][k])

    def fixed_seconds(self, model: str, jobs_per_gpu: int = 1) -> float:
        """GPU time per job outside training (start-up), shared by the jobs at once; 0 where not measured."""
        k = self._measured_k(model, jobs_per_gpu)
        return float(self.concurrent[model]["fixed_seconds_per_job"]) / k if k is not None else 0.0


def stored_gpu_speeds() -> StoredSpeeds:
    import yaml

    speeds = yaml.safe_load(Path(__file__).with_name("gpu_speeds.yaml").read_text())
    return StoredSpeeds(**{**speeds, "images_per_second": dict(speeds["images_per_second"])})


def images_per_second(
    model_name: str,
    size: DatasetSize,
    batch_size: int,
    device: torch.device,
    accelerator: Accelerator = Accelerator(),
    batches: int = 2,
) -> float:
    """Training images per second of `model_name` on `device`: the trainer over `batches`
    batches of synthetic images, after one warm-up batch (allocator, kernels, cuDNN choice)."""
    generator = torch.Generator().manual_seed(0)
    count = batch_size * batches
    data = Split(
        torch.randint(0, 256, (count, *size.input_shape), dtype=torch.uint8, generator=generator),
        torch.randint(0, size.num_classes, (count,), generator=generator),
        tuple(str(i) for i in range(size.num_classes)),
        torch.full((size.input_shape[0],), 0.5),
        torch.full((size.input_shape[0],), 0.25),
    ).to(device)
    recipe = Recipe(epochs=1, batch_size=batch_size, lr=0.01, momentum=0.9, weight_decay=5e-4, lr_schedule="constant")
    model = build_model(model_name, size.input_shape, size.num_classes).to(device)
    warm_up = Split(data.images[:batch_size], data.labels[:batch_size], data.classes, data.mean, data.std)
    train(model, warm_up, recipe, seed=0, accelerator=accelerator, description="warm-up")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    train(model, data, recipe, seed=0, accelerator=accelerator, description="timing")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return count / (time.perf_counter() - start)


@dataclass(frozen=True)
class Projection:
    seconds: float  # all planned training, one job after another
    epochs: int
    jobs: int
    rates: dict[str, float]  # model -> images/s (at its datasets' image shape)
    unsized: list[str]  # datasets left out: their size is not known before preparing them


def project(
    jobs: Iterable[PlannedJob],
    sizes: Mapping[str, DatasetSize | None],
    device: torch.device,
    accelerator: Accelerator = Accelerator(),
    batches: int = 2,
    rates: Mapping[str, float] | None = None,
    probe_batch: int | None = None,
) -> Projection:
    """The planned jobs' training time on `device`, from a rate per model: given in
    `rates`, or measured here, once per model, image shape and batch size (the number of
    classes only changes the last layer, so CIFAR-100 runs at CIFAR-10's rate), with
    batches of at most `probe_batch` images when given (a CPU's images/s hardly changes past
    a few dozen images a batch, and a measurement of ResNet-50 at 128 takes long there)."""
    jobs = list(jobs)
    given = dict(rates or {})
    measured: dict[tuple, float] = {}
    shown: dict[str, float] = {}
    seconds, epochs, unsized = 0.0, 0, set()
    for job in jobs:
        size = sizes.get(job.dataset)
        if size is None:
            unsized.add(job.dataset)
            continue
        if job.model in given:
            rate = given[job.model]
        else:
            batch_size = min(job.batch_size, probe_batch or job.batch_size)
            key = (job.model, size.input_shape, batch_size)
            if key not in measured:
                measured[key] = images_per_second(job.model, size, batch_size, device, accelerator, batches)
            rate = measured[key]
        shown[job.model] = rate
        seconds += job.epochs * size.train_images / rate
        epochs += job.epochs
    return Projection(seconds, epochs, len(jobs), shown, sorted(unsized))


def describe_duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.0f} days"
