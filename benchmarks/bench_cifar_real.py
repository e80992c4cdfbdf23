"""CPU-sized protocol on the real CIFAR-10 images: ResNet-20, dense, then WeightMom and
every baseline pruned to 15x compression, through the real Snakemake workflow.

The images are the JPEG copy of CIFAR-10 in ../shared/data/cifar10-jpeg.tar.gz (not
shipped with the project); they are unpacked into the work directory and read through the
`imagefolder` source. Default protocol (under 20 minutes on 2 CPU cores):

    train on a stratified 6,000-image subset, test on a 2,000-image subset
    dense: 10 epochs, SGD lr 0.1 cosine, batch 128, crop(4)+flip augmentation
    pruning: 3 geometric rounds to 15x, 2 fine-tuning epochs per round (lr 0.02 cosine)
    methods: weightmom, magnitude, global_magnitude, random, lottery, lr_rewind, gmp, lamp
    seed 0

    python benchmarks/bench_cifar_real.py [--archive PATH] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = REPO.parent / "shared/data/cifar10-jpeg.tar.gz"
METHODS = {
    "weightmom": {"pruner": "weightmom", "score": "momentum", "allocation": "relative", "beta": 0.5, "granularity": "round", "min_density": 0.02},
    "magnitude": {"pruner": "magnitude"},
    "global_magnitude": {"pruner": "global_magnitude"},
    "random": {"pruner": "random"},
    "lottery": {"pruner": "lottery", "rewind_epoch": 1},
    "lr_rewind": {"pruner": "lr_rewind"},
    "gmp": {"pruner": "gmp"},
    "lamp": {"pruner": "lamp"},
}


def protocol(images: Path, args: argparse.Namespace) -> dict:
    augment = {"crop_padding": 4, "horizontal_flip": True}
    return {
        "device": "auto",
        "threads": {"train": args.cores, "prune": 1, "evaluate": 1},
        "datasets": {
            "cifar10_jpeg": {
                "source": "imagefolder",
                "root": str(images),
                "subset": {"train": args.train_images, "test": args.test_images},
                "split_seed": 0,
            }
        },
        "tables": {
            "cifar10_jpeg": {
                "title": f"CIFAR-10 (JPEG copy, {args.train_images} train / {args.test_images} test images), ResNet-20, CPU protocol",
                "dataset": "cifar10_jpeg",
                "models": ["resnet20"],
            }
        },
        "methods": {name: METHODS[name] for name in args.methods},
        "seeds": [0],
        "training": {
            "dense": {"epochs": args.dense_epochs, "batch_size": 128, "lr": 0.1, "lr_schedule": "cosine", "augment": augment},
            "finetune": {"epochs": args.finetune_epochs, "batch_size": 128, "lr": 0.02, "lr_schedule": "cosine", "augment": augment},
        },
        "pruning": {"target_compression": 15, "rounds": args.rounds, "schedule": "geometric"},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/weightmom-bench-cifar"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=list(METHODS))
    parser.add_argument("--train-images", type=int, default=6_000)
    parser.add_argument("--test-images", type=int, default=2_000)
    parser.add_argument("--dense-epochs", type=int, default=10)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not args.archive.exists():
        print(f"{args.archive}: not found; this benchmark needs the JPEG copy of CIFAR-10 (see ../shared/data/README.md)")
        return 2
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    images = workdir / "images"
    start = time.perf_counter()
    if not (images / "cifar10/test").exists():
        with tarfile.open(args.archive) as tar:
            tar.extractall(images, filter="data")
    unpacked = time.perf_counter() - start
    for item in ("Snakefile", "workflow", "profiles", "environment.yml"):
        source, target = REPO / item, workdir / item
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy(source, target)
    config = workdir / "bench_cifar_real.yaml"
    config.write_text(yaml.safe_dump(protocol(images / "cifar10", args), sort_keys=False))
    run_start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", str(args.cores), "--configfile", str(config)], cwd=workdir
    )
    if result.returncode != 0:
        return result.returncode
    pipeline = time.perf_counter() - run_start
    print()
    print((workdir / "results/tables/cifar10_jpeg.md").read_text())
    metrics = pd.read_parquet(workdir / "results/metrics.parquet")
    print(metrics[["method", "round", "compression_ratio", "top1", "flops_sparse", "train_seconds"]].to_string(index=False))
    print(f"\nunpack {unpacked:.0f} s, pipeline {pipeline:.0f} s ({pipeline / 60:.1f} min) on {args.cores} cores")
    print(f"figures: {workdir / 'results/figures/cifar10_jpeg'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
