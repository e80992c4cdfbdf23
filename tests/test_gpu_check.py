"""`make gpu-check` where there is no GPU: the GPU tests skip with their reason, the
benchmark says why it did not run and exits 0; its code runs on the CPU all the same."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
import yaml

from weightmom.runtime.plan import training_plan

from helpers import REPO

BENCHMARK = str(REPO / "benchmarks/gpu_check.py")

pytestmark = pytest.mark.slow  # `make gpu-check` and the benchmark train


@pytest.mark.skipif(torch.cuda.is_available(), reason="there is a GPU here: make gpu-check runs for real")
def test_without_a_gpu_it_says_so_and_exits_0():
    run = subprocess.run(["make", "gpu-check"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert re.search(r"SKIPPED \[\d+\] tests/test_gpu.py:\d+: no CUDA GPU", run.stdout)
    assert "No CUDA GPU: PyTorch sees none here, so the GPU benchmark did not run" in run.stdout


def test_the_benchmark_runs_through_on_the_cpu():
    run = subprocess.run(
        [sys.executable, BENCHMARK, "--device", "cpu", "--quick"], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert re.search(r"trainer / plain loop .*\n\s+ratio \d\.\d{3}\s+IQR", run.stdout)
    for model in ("alexnet", "vgg16_bn", "resnet50", "resnet20"):
        assert re.search(rf"{model}\s+[\d,]+ images/s\s+[\d.]+ s/epoch", run.stdout), model
    projected = re.search(r"config.yaml: ([\d,]+) training jobs, ([\d,]+) epochs: ([\d,]+) CPU-hours", run.stdout)
    jobs = training_plan(yaml.safe_load((REPO / "config/config.yaml").read_text()))
    assert projected and int(projected.group(1).replace(",", "")) == len(jobs)
    assert int(projected.group(2).replace(",", "")) == sum(job.epochs for job in jobs)
    assert int(projected.group(3).replace(",", "")) > 0


CONCURRENT = str(REPO / "benchmarks/concurrent_throughput.py")


def test_the_concurrent_benchmark_runs_through_on_the_cpu():
    """Its quick form on the CPU: K = 1 and 2 workers in their own processes, the table,
    the chosen K and the block for gpu_speeds.yaml, which the projection can read."""
    run = subprocess.run(
        [sys.executable, CONCURRENT, "--device", "cpu", "--quick"], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    rows = re.findall(r"^\s+([12])\s+([\d,]+)\s+([\d.]+)x\s+([\d,]+)\s+([\d.]+)$", run.stdout, re.M)
    assert [row[0] for row in rows] == ["1", "2"], run.stdout
    assert float(rows[0][2]) == 1.0 and all(float(row[4]) > 0 for row in rows)
    block = yaml.safe_load(run.stdout.split("gpu_speeds.yaml (measured")[1].split("\n", 1)[1])
    measured = block["concurrent"]["resnet20"]
    assert set(measured["aggregate_images_per_second"]) == {1, 2} and measured["jobs_per_gpu"] in (1, 2)
    assert f"jobs_per_gpu for resnet20: {measured['jobs_per_gpu']}" in run.stdout


def test_without_a_gpu_the_concurrent_benchmark_says_so():
    if torch.cuda.is_available():
        pytest.skip("there is a GPU here")
    run = subprocess.run([sys.executable, CONCURRENT], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "the concurrent GPU throughput is not measured" in run.stdout
