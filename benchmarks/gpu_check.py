"""The GPU benchmark of `make gpu-check`: what the trainer does with a GPU, and what the
paper grid would cost on it.

1. Throughput of the project's trainer against a minimal plain-PyTorch loop (the loop of
   benchmarks/bench_train_step.py): ResNet-20, CIFAR-shaped images held on the GPU, no speed
   switches in either, paired repeats in shuffled order; the median ratio with its IQR and a
   95% bootstrap CI. Goal: trainer >= 0.95 x plain.
2. Seconds per epoch of 45,000 CIFAR-shaped images (CIFAR-10's training split less its
   validation part) for alexnet, vgg16_bn, resnet50 and resnet20, with the paper config's
   speed switches (config/config.yaml `accelerator`), at batch size 128.
3. The paper grid's projected GPU-hours on this card: every training job of
   config/config.yaml (weightmom.runtime.plan) times its epochs at the measured epoch time (the
   CIFAR-100 runs at the CIFAR-10 rate: only the last layer differs). Evaluation, data
   preparation and queueing are not counted.

Without a GPU it says so and exits 0 (`--device cpu` runs it on the CPU instead).

    python benchmarks/gpu_check.py                    # on the first GPU
    python benchmarks/gpu_check.py --device cpu --quick
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from scipy.stats import bootstrap

from weightmom.models import build_model
from weightmom.runtime.devices import describe_device, resolve_device
from weightmom.runtime.plan import training_plan
from weightmom.runtime.projection import DatasetSize, dataset_size, describe_duration, images_per_second, project
from weightmom.training.loop import train
from weightmom.training.recipe import Accelerator, Recipe

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["alexnet", "vgg16_bn", "resnet50", "resnet20"]
CIFAR = DatasetSize((3, 32, 32), 10, 45_000)
GOAL = 0.95


def _bench_train_step():
    spec = importlib.util.spec_from_file_location("bench_train_step", Path(__file__).with_name("bench_train_step.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trainer_against_plain(device: torch.device, images: int, repeats: int) -> bool:
    bench = _bench_train_step()
    data = bench.synthetic_split(images, device)
    recipe = Recipe(epochs=1, batch_size=128, lr=0.05, momentum=0.9, weight_decay=5e-4, lr_schedule="constant")
    plain_speed = Accelerator(channels_last=False, bf16_autocast=False, compile=False)

    def fresh_model() -> torch.nn.Module:
        torch.manual_seed(0)
        return build_model("resnet20", (3, 32, 32), 10).to(device)

    runs = {
        "plain": lambda model: bench.plain_loop(model, data, recipe, 0),
        "trainer": lambda model: train(model, data, recipe, seed=0, accelerator=plain_speed, description="trainer"),
    }
    for run in runs.values():
        run(fresh_model())
    rates: dict[str, list[float]] = {name: [] for name in runs}
    order, shuffle = list(runs), random.Random(0)
    for _ in range(repeats):
        shuffle.shuffle(order)
        for name in order:
            model = fresh_model()
            _synchronize(device)
            start = time.perf_counter()
            runs[name](model)
            _synchronize(device)
            rates[name].append(images / (time.perf_counter() - start))
    ratios = np.array(rates["trainer"]) / np.array(rates["plain"])
    low, mid, high = statistics.quantiles(ratios, n=4)
    interval = bootstrap(
        (ratios,), np.median, confidence_level=0.95, method="percentile", random_state=0
    ).confidence_interval
    met = interval.low >= GOAL
    verdict = "met" if met else "NOT met" if interval.high < GOAL else "within the noise: run more repeats"
    print(
        f"1. trainer / plain loop (resnet20, {images} images x {repeats} paired repeats): "
        f"plain {statistics.median(rates['plain']):,.0f} images/s, trainer {statistics.median(rates['trainer']):,.0f} images/s"
    )
    print(
        f"   ratio {mid:.3f}  IQR {low:.3f} .. {high:.3f}  95% CI {interval.low:.3f} .. {interval.high:.3f}  "
        f"(goal >= {GOAL}: {verdict})"
    )
    return met


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="a few batches only: checks the script, measures little")
    parser.add_argument("--config", default=str(ROOT / "config/config.yaml"), help="the grid to project")
    parser.add_argument("--repeats", type=int, default=9, help="paired repeats of the trainer / plain-loop comparison")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "No CUDA GPU: PyTorch sees none here, so the GPU benchmark did not run (the GPU tests above were "
            "skipped for the same reason). Run `make gpu-check` on a GPU machine."
        )
        return 0
    device = resolve_device(args.device)  # a GPU slot of its own, as a job would take
    if device.type == "cpu":
        torch.set_num_threads(2)
    config = yaml.safe_load(Path(args.config).read_text())
    speed = Accelerator.from_dict(config.get("accelerator", {}))
    batches = 2 if args.quick else 30
    started = time.perf_counter()
    print(f"device: {describe_device(device)}, torch {torch.__version__}")
    met = trainer_against_plain(
        device, images=256 if args.quick else 128 * 48, repeats=3 if args.quick else args.repeats
    )

    batch_size = 8 if args.quick else 128
    print(f"2. seconds per epoch of {CIFAR.train_images:,} CIFAR-shaped images, batch {batch_size}, {speed}:")
    epoch_rates = {}
    for model in MODELS:
        rate = images_per_second(model, CIFAR, batch_size, device, speed, batches)
        epoch_rates[model] = rate
        print(f"   {model:10s} {rate:10,.0f} images/s  {CIFAR.train_images / rate:8.1f} s/epoch")

    plan = training_plan(config)
    sizes = {name: dataset_size(config["datasets"][name]) for name in {job.dataset for job in plan}}
    unmeasured = sorted({job.model for job in plan} - set(epoch_rates))
    estimate = project([job for job in plan if job.model in epoch_rates], sizes, device, speed, rates=epoch_rates)
    print(
        f"3. {Path(args.config).name}: {estimate.jobs:,} training jobs, {estimate.epochs:,} epochs: "
        f"{estimate.seconds / 3600:,.0f} {device.type.upper()}-hours on this {describe_device(device)} "
        f"(about {describe_duration(estimate.seconds)} on one device)"
        + (f"; not counted: models {', '.join(unmeasured)}" if unmeasured else "")
    )
    print(f"gpu_check took {time.perf_counter() - started:.0f} s")
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
