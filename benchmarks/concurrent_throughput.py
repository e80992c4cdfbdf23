"""Aggregate training throughput with K jobs sharing one device, and each job's fixed cost.

For each model and each K, K worker processes start as the workflow's jobs do (a fresh
interpreter importing the package), build the model and synthetic CIFAR-shaped data on the
device, warm up one batch, then wait at a common start line and train `--epochs` epochs
of `--images` images with the project's trainer (weightmom.training.loop.train, the
accelerator of config/config.yaml). Aggregate images/s = all workers' images / (last end -
first start). Each worker's start-up (interpreter start to ready, warm-up included) is the
per-job fixed cost the projection adds to every job.

It prints a table per model (K, aggregate images/s, gain over K=1, per job, fixed cost),
the K it would choose as `jobs_per_gpu` (the smallest K within 5% of the best aggregate),
and the `concurrent:` block of src/weightmom/runtime/gpu_speeds.yaml, which the projection
(`snakemake -n`, the preflight, the README's GPU-hours) reads instead of one job's speed.

    python benchmarks/concurrent_throughput.py                      # the first GPU, K = 1 2 4 8
    python benchmarks/concurrent_throughput.py --device cpu --quick # the suite's check
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PAPER_MODELS = ["alexnet", "vgg16_bn", "resnet50"]
WITHIN = 0.05  # a larger K must beat the best aggregate by more than this to be chosen


def worker(args: argparse.Namespace) -> None:
    """One job: get ready, wait for the start line, train, print what it did as JSON."""
    born = time.time()
    import torch

    from weightmom.data.splits import Split
    from weightmom.models import build_model
    from weightmom.training.loop import train
    from weightmom.training.recipe import Accelerator, Recipe

    device = torch.device(args.device)  # not the workflow's GPU slots: the K jobs share this device on purpose
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.rank)
    data = Split(
        torch.randint(0, 256, (args.images, 3, 32, 32), dtype=torch.uint8, generator=generator),
        torch.randint(0, 10, (args.images,), generator=generator),
        tuple(str(i) for i in range(10)),
        torch.full((3,), 0.5),
        torch.full((3,), 0.25),
    ).to(device)
    accelerator = Accelerator.from_dict(yaml.safe_load((ROOT / "config/config.yaml").read_text())["accelerator"])
    if device.type != "cuda":
        accelerator = Accelerator(channels_last=False, bf16_autocast=False, compile=False)
    recipe = Recipe(epochs=1, batch_size=args.batch, lr=0.01, momentum=0.9, weight_decay=5e-4, lr_schedule="constant")
    model = build_model(args.model, (3, 32, 32), 10).to(device)
    warm = Split(data.images[: args.batch], data.labels[: args.batch], data.classes, data.mean, data.std)
    train(model, warm, recipe, seed=0, accelerator=accelerator, description="warm-up")
    ready = time.time()
    while time.time() < args.start_at:
        time.sleep(0.005)
    start = time.time()
    for _ in range(args.epochs):
        train(model, data, recipe, seed=0, accelerator=accelerator, description="timing")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    end = time.time()
    images = args.images * args.epochs
    print(
        json.dumps({"images": images, "start": start, "end": end, "fixed": ready - born, "late": start - args.start_at})
    )


def run_k(model: str, k: int, args: argparse.Namespace) -> dict:
    """K workers at once; the start line leaves them time to get ready (raised and retried
    when one arrives late)."""
    lead = args.lead
    while True:
        start_at = time.time() + lead
        command = [sys.executable, __file__, "--worker", "--model", model, "--device", args.device]
        command += ["--images", str(args.images), "--epochs", str(args.epochs), "--batch", str(args.batch)]
        command += ["--threads", str(args.threads), "--start-at", repr(start_at)]
        with tempfile.TemporaryDirectory() as scratch:
            outputs = [Path(scratch) / f"{rank}.json" for rank in range(k)]
            handles = [open(out, "w") for out in outputs]
            procs = [
                subprocess.Popen([*command, "--rank", str(rank)], stdout=handle) for rank, handle in enumerate(handles)
            ]
            failed = [proc.wait() for proc in procs]
            for handle in handles:
                handle.close()
            if any(failed):
                raise SystemExit(f"a worker for {model} with K={k} failed")
            results = [json.loads(out.read_text()) for out in outputs]
        if max(r["late"] for r in results) < 0.05:
            break
        lead *= 2  # someone was not ready at the start line: give them longer
    images = sum(r["images"] for r in results)
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return {"k": k, "aggregate": images / wall, "fixed": statistics.median(r["fixed"] for r in results)}


def choose_k(rows: list[dict]) -> int:
    best = max(row["aggregate"] for row in rows)
    return min(row["k"] for row in rows if row["aggregate"] >= (1 - WITHIN) * best)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rank", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cuda", help="cuda (the first free GPU) or cpu")
    parser.add_argument("--models", nargs="+", default=PAPER_MODELS)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 4, 8], help="K values")
    parser.add_argument("--images", type=int, default=12_800, help="images per epoch of each job")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per job")
    parser.add_argument("--lead", type=float, default=20.0, help="seconds from launch to the start line")
    parser.add_argument("--quick", action="store_true", help="a seconds-long check: small images count, K = 1 2")
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            print("no CUDA GPU here: the concurrent GPU throughput is not measured (--device cpu runs it on the CPU)")
            return 0
    if args.quick:
        args.models, args.jobs, args.images, args.epochs, args.batch, args.lead = ["resnet20"], [1, 2], 256, 1, 64, 8.0
    block = {}
    for model in args.models:
        rows = [run_k(model, k, args) for k in args.jobs]
        single = rows[0]["aggregate"] if rows[0]["k"] == 1 else None
        print(f"\n{model} on {args.device}: {args.images} images x {args.epochs} epochs per job, batch {args.batch}")
        print(f"{'K':>3} {'aggregate img/s':>16} {'vs K=1':>7} {'per job':>9} {'fixed s/job':>12}")
        for row in rows:
            gain = f"{row['aggregate'] / single:6.2f}x" if single else "      -"
            print(
                f"{row['k']:>3} {row['aggregate']:>16,.0f} {gain} {row['aggregate'] / row['k']:>9,.0f} {row['fixed']:>12.1f}"
            )
        chosen = choose_k(rows)
        print(f"jobs_per_gpu for {model}: {chosen} (the smallest K within {WITHIN:.0%} of the best aggregate)")
        block[model] = {
            "aggregate_images_per_second": {row["k"]: round(row["aggregate"]) for row in rows},
            "fixed_seconds_per_job": round(statistics.median(row["fixed"] for row in rows), 1),
            "jobs_per_gpu": chosen,
        }
    print("\n# for src/weightmom/runtime/gpu_speeds.yaml (measured " + time.strftime("%Y-%m-%d") + "):")
    print(yaml.safe_dump({"concurrent": block}, sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
