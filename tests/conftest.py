from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from weightmom import gpu_slots
from weightmom.splits import load_split
from weightmom.steps.data import prepare_data
from weightmom.steps.train import train_dense

from fake_cifar import make_archive

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "workflow", "profiles", "config", "environment.yml")

DIGITS_SPEC = {"source": "digits", "test_fraction": 0.25, "split_seed": 0}
FAST_RECIPE = {"epochs": 2, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "lr_schedule": "cosine"}


@pytest.fixture(autouse=True)
def private_gpu_slots(tmp_path_factory, monkeypatch):
    """Each test claims GPU slots (weightmom.gpu_slots) in its own lock folder, it and the
    jobs it starts, and gives back what it claimed: on a GPU machine a slot the test process
    kept would make later jobs wait, and a real run on the node would make the tests wait."""
    monkeypatch.setenv(gpu_slots.LOCK_DIR_VARIABLE, str(tmp_path_factory.mktemp("gpu-slots")))
    yield
    gpu_slots.release_all()


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits")
    prepare_data(DIGITS_SPEC, out / "raw", out)
    return out


@pytest.fixture(scope="session")
def digits_train(digits_dir):
    return load_split(digits_dir / "train.npz")


@pytest.fixture(scope="session")
def dense_mlp(digits_dir, tmp_path_factory):
    """A dense MLP checkpoint trained for two epochs on digits."""
    path = tmp_path_factory.mktemp("dense") / "checkpoint.pt"
    torch.set_num_threads(1)
    train_dense(
        data_dir=digits_dir, dataset="digits", model_name="mlp", seed=0, recipe=FAST_RECIPE, device="cpu", out=path
    )
    return path


@pytest.fixture
def cifar_archive(tmp_path):
    """A tiny CIFAR-10 archive in tmp_path/served/ (to be served over HTTP); its arrays and MD5."""
    served = tmp_path / "served"
    served.mkdir()
    info = make_archive(served / "cifar-10-python.tar.gz")
    return served, info


def copy_project(target: Path, items: tuple[str, ...] = WORKFLOW_FILES) -> Path:
    """A copy of the workflow (or of other `items` of the repository) to run Snakemake in."""
    for item in items:
        source, destination = REPO / item, target / item
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, destination)
    return target


def run_snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Snakemake in `workdir`; `env` adds to (or replaces) environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args], cwd=workdir, capture_output=True, text=True, timeout=900,
        env={**os.environ, **(env or {})},
    )


def reduced_demo_config() -> dict:
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["methods"] = {name: config["methods"][name] for name in ("weightmom", "magnitude", "lottery", "lamp")}
    config["tables"] = {
        "digits": {"dataset": "digits", "models": ["mlp"]},
        "digits_ablation": {"dataset": "digits", "models": ["mlp"], "kind": "ablation", "methods": ["weightmom", "magnitude"]},
    }
    config["training"]["dense"]["epochs"] = 3
    config["training"]["finetune"]["epochs"] = 1
    config["pruning"]["rounds"] = 2
    config["threads"] = {"train": 1, "prune": 1, "evaluate": 1}
    return config


def write_config(workdir: Path, config: dict) -> str:
    path = workdir / "config/test.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path.relative_to(workdir))


def metric_row(model, method, seed, round_index, top1, compression):
    """A metric row with every column of METRIC_SCHEMA but schema_version."""
    return {
        "dataset": "toy", "model": model, "method": method, "seed": seed, "round": round_index,
        "target_sparsity": 1 - 1 / compression, "sparsity": 1 - 1 / compression, "compression_ratio": compression,
        "params_total": 1000, "params_prunable": 900, "params_nonzero": 100 + round(900 / compression),
        "top1": top1, "top5": 1.0, "loss": 0.1, "val_top1": top1, "val_top5": 1.0, "val_loss": 0.1, "flops_dense": 2e6, "flops_sparse": 2e6 / compression,
        "train_seconds": 1.0, "config_hash": "h", "git_commit": "c", "git_dirty": False, "torch_version": "t", "device": "cpu",
    }


def flip_bytes_of_tensor(path: Path, tensor: torch.Tensor) -> None:
    """Invert four bytes of `tensor`'s data where `path` stores it: damage that leaves the
    file loadable, as a bad disk or a broken copy would."""
    data = bytearray(path.read_bytes())
    start = data.find(tensor.reshape(-1).view(torch.uint8).numpy().tobytes()[:256])
    assert start > 0
    data[start : start + 4] = bytes(b ^ 0xFF for b in data[start : start + 4])
    path.write_bytes(bytes(data))
