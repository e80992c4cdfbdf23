"""config/paper-cpu.yaml's CIFAR-100 half on the real images, through the workflow, at a
size a test can afford: the JPEG copy read through the imagefolder source's `archive` key,
pruned through the target and one sweep round past it, up to the claims. Skips, with the
reason, where ../shared/data/cifar100-jpeg.tar.gz is absent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import REPO, copy_project, run_snakemake, shared_archive, write_config

ARCHIVE, needs_archive = shared_archive("cifar100-jpeg.tar.gz")

pytestmark = pytest.mark.slow  # the workflow on real images


@needs_archive
def test_paper_cpu_config_runs_cifar100_on_the_real_archive(tmp_path):
    workdir = copy_project(tmp_path)
    config = yaml.safe_load((REPO / "config/paper-cpu.yaml").read_text())
    dataset = config["datasets"]["cifar100_jpeg"]
    dataset.update(archive=str(ARCHIVE), subset={"train": 1000, "test": 300})
    config["datasets"] = {"cifar100_jpeg": dataset}
    config["tables"] = {name: table for name, table in config["tables"].items() if table["dataset"] == "cifar100_jpeg"}
    claimed = config["claims"]["method"]  # WeightMom's default, which the claims check
    config["methods"] = {name: config["methods"][name] for name in (claimed, "magnitude")}
    for table in config["tables"].values():
        table["methods"] = list(config["methods"])
    for recipe in config["training"].values():
        recipe["epochs"] = 1
    config["pruning"].update(rounds=1, sweep={"max_compression": 50, "rounds": 1})
    out = workdir / "results/paper-cpu"
    claims = "results/paper-cpu/tables/claims.md"
    run = run_snakemake(workdir, claims, "--cores", "2", "--configfile", write_config(workdir, config))
    assert run.returncode == 0, run.stderr[-3000:]

    data = {split: np.load(out / f"data/cifar100_jpeg/{split}.npz") for split in ("train", "val", "test")}
    assert [len(data[split]["labels"]) for split in data] == [900, 100, 300]
    assert all(len(np.unique(data[split]["labels"])) == 100 for split in data)
    classes = list(data["train"]["classes"])  # the official fine labels, in their official order
    assert (classes[0], classes[1], classes[-1], len(classes)) == ("apple", "aquarium_fish", "worm", 100)
    assert data["train"]["images"].shape[1:] == (3, 32, 32)

    rows = pd.concat(pd.read_parquet(path) for path in out.glob("runs/cifar100_jpeg/alexnet/seed0/*/*/metrics.parquet"))
    assert sorted(set(zip(rows["method"], rows["round"]))) == [
        (m, r) for m in sorted(config["methods"]) for r in (1, 2)
    ]
    assert sorted(rows["compression_ratio"].round(1).unique()) == [15.0, 50.0]  # the target, then the sweep's end
    text = (workdir / claims).read_text()
    coverage = next(line for line in text.splitlines() if line.startswith("| CIFAR-100") and "alexnet" in line)
    assert "| run " in coverage and "cifar100_jpeg" in coverage
