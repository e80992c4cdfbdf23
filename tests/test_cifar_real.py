"""config/cifar10-cpu.yaml on the real CIFAR-10 images, through the workflow, at a size a
test can afford: the archive is read through the imagefolder source's `archive` key.
Skips, with the reason, where ../shared/data/cifar10-jpeg.tar.gz is absent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO, copy_project, run_snakemake, shared_archive, write_config

ARCHIVE, needs_archive = shared_archive("cifar10-jpeg.tar.gz")

pytestmark = pytest.mark.slow  # the workflow on real images


@needs_archive
def test_cifar10_cpu_config_runs_on_the_real_archive(tmp_path):
    workdir = copy_project(tmp_path)
    config = yaml.safe_load((REPO / "config/cifar10-cpu.yaml").read_text())
    dataset = config["datasets"]["cifar10_jpeg"]
    dataset.update(archive=str(ARCHIVE), subset={"train": 600, "test": 200})
    for recipe in config["training"].values():
        recipe["epochs"] = 1
    config["pruning"]["rounds"] = 1
    config["methods"] = {name: config["methods"][name] for name in ("wm_score_budget", "wm_global_scaled", "magnitude")}
    for table in config["tables"].values():
        table["methods"] = list(config["methods"])
    run = run_snakemake(workdir, "--cores", "2", "--configfile", write_config(workdir, config))
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = pd.read_parquet(workdir / "results/cifar10-cpu/metrics.parquet")
    assert sorted(zip(metrics["method"], metrics["round"])) == [
        (m, r) for m in sorted(config["methods"]) for r in (0, 1)
    ]
    assert metrics["val_top1"].between(0, 1).all() and metrics["top1"].between(0, 1).all()
    labels = [
        np.load(workdir / f"results/cifar10-cpu/data/cifar10_jpeg/{split}.npz")["labels"]
        for split in ("train", "val", "test")
    ]
    assert [len(split) for split in labels] == [540, 60, 200]
    assert all(len(np.unique(split)) == 10 for split in labels)
    table = (workdir / "results/cifar10-cpu/tables/cifar10_jpeg_ablation.md").read_text()
    assert "Val top-1 at 15x (%)" in table and "global_scaled" in table
