"""What a run says about its device before its first job: the plan it projects, the
warning when `device: auto` finds no GPU, and the stop when a config needs one."""

from __future__ import annotations

import math
import re
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from weightmom.errors import SpecError
from weightmom.runtime import preflight as preflight_module
from weightmom.runtime import projection
from weightmom.runtime.plan import PlannedJob, training_plan
from weightmom.runtime.preflight import dry_run_cost, preflight
from weightmom.runtime.projection import DatasetSize, dataset_size, project

from fake_images import image_folder
from helpers import DIGITS_SPEC, REPO, copy_project, reduced_demo_config, run_snakemake, write_config

sys.path.insert(0, str(REPO / "workflow/lib"))
from dry_run import forces_all, is_dry_run  # noqa: E402  (the workflow's plain-Python module)


def test_the_paper_plan_counts_each_training_job_once():
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    plan = training_plan(config)
    dense = [job for job in plan if job.stage == "dense"]
    rounds = [job for job in plan if job.stage != "dense"]
    # 2 datasets x 3 models x 3 seeds; the ablation's VGG16-BN runs are the CIFAR-10 table's
    assert len(dense) == 18 and {job.epochs for job in dense} == {160}
    compared = len(config["tables"]["cifar10"]["methods"])
    ablation_only = len(
        set(config["tables"]["cifar10_ablation"]["methods"]) - set(config["tables"]["cifar10"]["methods"])
    )
    rounds_per_run = config["pruning"]["rounds"] + config["pruning"]["sweep"]["rounds"]  # to 15x, then past it
    assert rounds_per_run == 10
    assert len(rounds) == (18 * compared + 3 * ablation_only) * rounds_per_run
    assert len({(j.dataset, j.model, j.seed, j.stage) for j in plan}) == len(plan)


def test_a_dataset_is_sized_before_and_after_it_is_prepared(digits_dir):
    before = dataset_size(DIGITS_SPEC)
    with np.load(digits_dir / "train.npz") as arrays:
        assert before == DatasetSize((1, 8, 8), 10, len(arrays["labels"]))
    assert dataset_size(DIGITS_SPEC, digits_dir) == before
    assert dataset_size({"source": "cifar10"}) == DatasetSize((3, 32, 32), 10, 45_000)
    assert dataset_size({"source": "cifar100", "subset": {"train": 5000}, "val_fraction": 0.2}).train_images == 4000
    assert dataset_size({"source": "imagefolder", "root": "x"}) is None


def test_projected_seconds_are_epochs_times_images_over_the_measured_rate(monkeypatch):
    monkeypatch.setattr(projection, "images_per_second", lambda model, *args: {"mlp": 100.0, "cnn": 50.0}[model])
    config = reduced_demo_config()  # mlp, 2 seeds, 4 methods x 2 rounds; dense 3 epochs, rounds 1
    plan = training_plan(config)
    sizes = {"digits": DatasetSize((1, 8, 8), 10, 1000)}
    estimate = project(plan, sizes, torch.device("cpu"))
    assert estimate.jobs == 2 + 2 * 4 * 2 and estimate.epochs == 2 * 3 + 16 * 1
    assert estimate.seconds == pytest.approx(estimate.epochs * 1000 / 100.0)
    unsized = project(plan, {"digits": None}, torch.device("cpu"))
    assert unsized.unsized == ["digits"] and unsized.seconds == 0


def test_the_rate_is_measured_with_the_trainer():
    rate = projection.images_per_second("mlp", DatasetSize((1, 8, 8), 10, 1000), 64, torch.device("cpu"))
    assert 10 < rate < 1e7


def _no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_without_a_gpu_warns_with_the_projected_time(monkeypatch, tmp_path):
    _no_gpu(monkeypatch)
    monkeypatch.setattr(projection, "images_per_second", lambda *args: 20.0)
    config = reduced_demo_config()
    message = preflight("auto", training_plan(config), config["datasets"], tmp_path)
    assert message.startswith("No GPU")
    assert "18 job(s), 22 epochs" in message and "cnn" not in message and "(mlp 20 images/s)" in message
    seconds = 22 * dataset_size(config["datasets"]["digits"]).train_images / 20.0
    assert f"about {projection.describe_duration(seconds)}" in message
    on_cpu = preflight("cpu", training_plan(config), config["datasets"], tmp_path)
    assert on_cpu.startswith("This run trains 18 job(s), 22 epochs") and "No GPU" not in on_cpu


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_training_past_max_cpu_hours_stops_before_the_first_job_saying_how_to_go_on(monkeypatch, tmp_path, device):
    _no_gpu(monkeypatch)
    monkeypatch.setattr(projection, "images_per_second", lambda *args: 0.05)
    config = reduced_demo_config()  # 22 epochs of 1,078 images at 0.05 images/s: 132 hours
    hours = 22 * dataset_size(config["datasets"]["digits"]).train_images / 0.05 / 3600
    with pytest.raises(SpecError) as stop:
        preflight(device, training_plan(config), config["datasets"], tmp_path, max_cpu_hours=2)
    message = str(stop.value)
    assert f"about {projection.describe_duration(hours * 3600)} one job after another" in message
    assert "past the config's max_cpu_hours (2), so no job was started" in message
    go_on = math.ceil(1.25 * hours)  # a quarter to spare over one short timing
    assert f"add `--config max_cpu_hours={go_on}` to the snakemake command" in message
    assert preflight(device, training_plan(config), config["datasets"], tmp_path, max_cpu_hours=go_on)


def test_a_dry_run_prints_gpu_hours_from_the_stored_speeds_and_cpu_hours_measured_here(monkeypatch, tmp_path):
    monkeypatch.setattr(projection, "images_per_second", lambda *args: 100.0)
    plan = [PlannedJob("c10", "alexnet", 0, "dense", 10, 128), PlannedJob("c10", "cnn", 0, "dense", 10, 128)]
    message = dry_run_cost(plan, {"c10": {"source": "cifar10"}}, tmp_path, done=3)
    speeds = projection.stored_gpu_speeds()
    gpu_seconds = 10 * 45_000 / speeds.images_per_second["alexnet"]
    assert message.startswith("Projected cost: 2 training job(s) left (3 already made), 20 epochs")
    assert f"about {projection.describe_duration(gpu_seconds)} on one {speeds.device}" in message
    assert "not counted: models cnn (no GPU speed stored)" in message
    assert f"about {projection.describe_duration(20 * 45_000 / 100.0)} on this CPU" in message
    assert "Without a GPU, the run would stop" in message and "`--config max_cpu_hours=4` lets it go on" in message
    assert "would stop" not in dry_run_cost(plan, {"c10": {"source": "cifar10"}}, tmp_path, device="cuda")


def test_gpu_hours_use_the_measured_aggregate_of_jobs_sharing_the_gpu_and_their_fixed_cost(monkeypatch):
    single = projection.StoredSpeeds("GPU X", "2026-12-05", "bench", {"alexnet": 1000.0, "vgg16_bn": 500.0})
    shared = projection.StoredSpeeds(
        "GPU X",
        "2026-12-05",
        "bench",
        {"alexnet": 1000.0, "vgg16_bn": 500.0},
        concurrent={
            "alexnet": {
                "aggregate_images_per_second": {1: 1000, 2: 1800, 4: 2500},
                "fixed_seconds_per_job": 8.0,
                "jobs_per_gpu": 4,
            }
        },
    )
    plan = [PlannedJob("c10", "alexnet", 0, "dense", 10, 128), PlannedJob("c10", "vgg16_bn", 0, "dense", 10, 128)]
    sizes = {"c10": DatasetSize((3, 32, 32), 10, 45_000)}
    monkeypatch.setattr(preflight_module, "stored_gpu_speeds", lambda: single)
    assert preflight_module.gpu_estimate(plan, sizes).seconds == pytest.approx(10 * 45_000 / 1000 + 10 * 45_000 / 500)
    assert "one job at a time, training only (concurrent throughput not measured" in preflight_module.describe_gpu(
        plan, sizes
    )
    monkeypatch.setattr(preflight_module, "stored_gpu_speeds", lambda: shared)
    vgg = 10 * 45_000 / 500  # not measured sharing: alone, whatever jobs_per_gpu says
    assert preflight_module.gpu_estimate(plan, sizes, 4).seconds == pytest.approx(10 * 45_000 / 2500 + 8.0 / 4 + vgg)
    # a jobs_per_gpu between measured K values runs at the largest measured one below it
    assert preflight_module.gpu_estimate(plan, sizes, 3).seconds == pytest.approx(10 * 45_000 / 1800 + 8.0 / 2 + vgg)
    assert preflight_module.gpu_estimate(plan, sizes).seconds == pytest.approx(10 * 45_000 / 1000 + 8.0 + vgg)
    described = preflight_module.describe_gpu(plan, sizes, 3)
    assert "jobs_per_gpu 3 at the measured aggregate speeds, fixed cost per job included" in described
    assert "the benchmark's jobs_per_gpu: alexnet 4" in described


def test_an_imagefolder_is_sized_from_its_folder_or_its_archive(tmp_path):
    root = image_folder(tmp_path / "images", classes=("a", "b", "c"), per_class=4, size=(20, 20))
    folder = {"source": "imagefolder", "root": str(root), "val_fraction": 0.25}
    (root / "train/a/.DS_Store").write_text("not an image")  # what a file browser leaves; the reader skips it
    assert dataset_size(folder) == DatasetSize((3, 20, 20), 3, 9)  # 12 images, 3 held out
    with tarfile.open(tmp_path / "images.tar.gz", "w:gz") as archive:
        archive.add(root, arcname="./images")  # one folder down, as the reader accepts, behind ./
    packed = {"source": "imagefolder", "archive": str(tmp_path / "images.tar.gz"), "md5": "0" * 32, "resize": 16}
    assert dataset_size(packed) == DatasetSize((3, 16, 16), 3, 11)  # 12 images, val_fraction 0.1 of them
    assert dataset_size({**packed, "archive": "https://example.org/x.tar.gz"}) is None


@pytest.mark.parametrize(
    "argv, dry",
    [
        (["snakemake", "-n"], True),
        (["snakemake", "--cores", "2", "-np", "--configfile", "c.yaml"], True),
        (["snakemake", "--dry-run"], True),
        (["snakemake", "-pn"], True),
        (["snakemake", "--cores", "2"], False),
        (["snakemake", "--configfile", "config/n.yaml", "-j", "4"], False),
        (["snakemake", "--cores", "1", "--", "-n"], False),
        (["snakemake", "-nc", "1"], True),
        (["snakemake", "-nj4"], True),
        (["snakemake", "-pnr"], True),
        (["snakemake", "-c", "n"], False),
        (["snakemake", "-cn"], False),
        (["snakemake", "-s", "-n"], False),
    ],
)
def test_a_dry_run_is_told_from_the_command_line(argv, dry):
    assert is_dry_run(argv) is dry


def test_forceall_is_told_from_the_command_line():
    assert forces_all(["snakemake", "-nF"]) and forces_all(["snakemake", "--forceall", "-n"])
    assert not forces_all(["snakemake", "-n", "--configfile", "F.yaml"]) and not forces_all(["snakemake", "-cF"])


def test_a_config_that_needs_a_gpu_stops_without_one(monkeypatch, tmp_path):
    _no_gpu(monkeypatch)
    for device in ("cuda", "cuda:1"):
        with pytest.raises(SpecError, match=rf"config device '{device}' needs a GPU, but PyTorch sees none"):
            preflight(device, [], {}, tmp_path)


def test_with_gpus_it_names_them_and_the_resources_setting(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"Card {index}")
    message = preflight("auto", [], {}, tmp_path, jobs_per_gpu=2)
    assert "cuda:0 Card 0, cuda:1 Card 1" in message and "--resources gpu=4" in message
    with pytest.raises(SpecError, match="2 GPU"):
        preflight("cuda:2", [], {}, tmp_path)


def _workdir(tmp_path: Path, device: str) -> tuple[Path, str]:
    workdir = copy_project(tmp_path)
    config = reduced_demo_config()
    config["device"] = device
    return workdir, write_config(workdir, config)


NO_GPU_HERE = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")


@pytest.mark.slow
@NO_GPU_HERE
def test_the_workflow_says_it_once_before_the_first_job(tmp_path):
    workdir, config = _workdir(tmp_path, "auto")
    data_only = run_snakemake(workdir, "results/demo/data/digits/train.npz", "--cores", "1", "--configfile", config)
    assert data_only.returncode == 0, data_only.stderr[-3000:]
    assert "GPU" not in data_only.stdout + data_only.stderr  # no job of this run needs a device
    target = "results/demo/runs/digits/mlp/seed0/magnitude/round1/checkpoint.pt"
    run = run_snakemake(workdir, target, "--cores", "1", "--configfile", config)
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert log.count("No GPU: PyTorch sees none") == 1
    assert log.index("No GPU") < log.index("rule train_dense")
    assert "This run trains 2 job(s), 4 epochs" in log  # the dense run (3 epochs) and one round (1)


@pytest.mark.slow
@NO_GPU_HERE
def test_the_workflow_stops_before_any_job_when_the_config_needs_a_gpu(tmp_path):
    workdir, config = _workdir(tmp_path, "cuda")
    run = run_snakemake(workdir, "--cores", "1", "--configfile", config)
    assert run.returncode != 0
    assert "config device 'cuda' needs a GPU, but PyTorch sees none on this machine" in run.stderr
    assert "no job was started" in run.stderr
    assert not (workdir / "results").exists()
    dry = run_snakemake(workdir, "-n", "--cores", "1", "--configfile", config)  # planning needs no GPU
    assert dry.returncode == 0, dry.stderr[-2000:]


@pytest.mark.slow
@NO_GPU_HERE
def test_the_paper_grid_shows_its_cost_under_n_and_stops_before_training_without_a_gpu(tmp_path):
    workdir = copy_project(tmp_path)
    dry = run_snakemake(workdir, "-n", "--configfile", "config/config.yaml")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert re.search(
        r"Projected cost: 1,\d{3} training job\(s\) left \(0 already made\), [\d,]+ epochs: about [\d.]+ h on one NVIDIA H200",
        dry.stdout + dry.stderr,
    )
    run = run_snakemake(workdir, "--cores", "2", "--configfile", "config/config.yaml")
    assert run.returncode != 0
    assert "past the config's max_cpu_hours (2), so no job was started" in run.stderr
    assert re.search(r"add `--config max_cpu_hours=\d+` to the snakemake command", run.stderr)
    assert not (workdir / "results").exists() and not (workdir / "data").exists()
