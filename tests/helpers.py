"""What the tests share: the repository's paths, the reduced recipes and configs (.test/),
running Snakemake in a copy of the workflow, a training command, killing a job once its
resume file holds an epoch, and the guard that keeps Snakemake and training processes out
of the fast tier. Imported as `from helpers import ...`; conftest.py holds only fixtures."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ("Snakefile", "workflow", "profiles", "config", "environment.yml")
TEST_CONFIGS = REPO / ".test"

DIGITS_SPEC = {"source": "digits", "test_fraction": 0.25, "split_seed": 0}
FAST_RECIPE = {
    "epochs": 2,
    "batch_size": 64,
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "lr_schedule": "cosine",
}
# What the kill-and-resume tests train: epochs enough to be killed in the middle, and
# augmentation, whose random draws must resume too.
RESUME_RECIPE = {**FAST_RECIPE, "epochs": 8, "augment": {"crop_padding": 1, "horizontal_flip": True}}


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


def run_snakemake(
    workdir: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess:
    """Snakemake in `workdir`; `env` adds to (or replaces) environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def load_test_config(name: str) -> dict:
    """.test/<name>.yaml as the tests run it: as the experiment `demo` (under results/demo/),
    the paths their assertions name. Run by hand, the file keeps its own experiment name, so
    that it never overwrites a real demo's results."""
    config = yaml.safe_load((TEST_CONFIGS / f"{name}.yaml").read_text())
    config["experiment"] = "demo"
    return config


def reduced_demo_config() -> dict:
    """The reduced demo most workflow tests run (.test/reduced.yaml)."""
    return load_test_config("reduced")


def shared_archive(name: str) -> tuple[Path, pytest.MarkDecorator]:
    """../shared/data/<name> (the real-image archives beside the checkout) and a skip mark
    that names it where it is absent."""
    path = REPO.parent / "shared/data" / name
    return path, pytest.mark.skipif(not path.exists(), reason=f"{path} is not here (see the shared data README)")


def write_config(workdir: Path, config: dict) -> str:
    path = workdir / "config/test.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path.relative_to(workdir))


def train_command(
    data_dir: Path,
    out: Path,
    recipe: dict,
    *,
    model: str = "cnn",
    seed: int = 3,
    device: str = "cpu",
    threads: int = 1,
    accelerator: dict | None = None,
) -> list[str]:
    """The command line of one training job (`python -m weightmom train`) on the digits split in `data_dir`."""
    options = {
        "--data": data_dir,
        "--dataset": "digits",
        "--model": model,
        "--seed": seed,
        "--recipe": json.dumps(recipe),
        "--threads": threads,
        "--device": device,
        "--out": out,
    }
    if accelerator is not None:
        options["--accelerator"] = json.dumps(accelerator)
    return [sys.executable, "-m", "weightmom", "train", *(str(part) for option in options.items() for part in option)]


def prune_args(
    checkpoint: Path | str,
    data_dir: Path | str,
    out: Path | str,
    *,
    pruner: str,
    recipe: dict,
    pruning: dict,
    method: str | None = None,
    options: dict | None = None,
    device: str = "cpu",
    threads: int = 1,
) -> list[str]:
    """The arguments of round 1 of a pruning job (`weightmom prune ...`, without the
    interpreter: `weightmom.cli.main` takes them as they are); `method` defaults to the pruner."""
    arguments = {
        "--checkpoint": checkpoint,
        "--data": data_dir,
        "--method": method or pruner,
        "--pruner": pruner,
        "--pruner-options": json.dumps(options or {}),
        "--pruning": json.dumps(pruning),
        "--round": 1,
        "--recipe": json.dumps(recipe),
        "--threads": threads,
        "--device": device,
        "--out": out,
    }
    return ["prune", *(str(part) for argument in arguments.items() for part in argument)]


def saved_epoch(resume: Path) -> int:
    """The epoch a job's resume file holds; 0 while there is none (or it is being replaced)."""
    try:
        return torch.load(resume, weights_only=True)["epoch"]
    except Exception:  # not there yet, or being replaced right now
        return 0


def wait_for_epoch(job: subprocess.Popen, resume: Path, epoch: int, timeout: float = 300) -> None:
    """Wait until the resume file of a running training job holds `epoch` (or a later one):
    the job then trains a later epoch. `job` is the process this test started, the training job
    itself or Snakemake running it; fails if it ends or stalls first."""
    deadline = time.monotonic() + timeout
    while saved_epoch(resume) < epoch:
        assert job.poll() is None, f"the job ended before its resume file held epoch {epoch}"
        assert time.monotonic() < deadline, f"the job did not reach epoch {epoch} in {timeout:.0f} s"
        time.sleep(0.02)


def kill_at_epoch(command: list[str], resume: Path, epoch: int) -> None:
    """Start a real training process and SIGKILL it in the middle of the epoch after `epoch`."""
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_epoch(job, resume, epoch)
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()


def check_sensible_curve(curve: pd.DataFrame, epochs: int) -> None:
    """A job's curve.parquet: one row per epoch, in order, with sensible numbers."""
    assert list(curve["epoch"]) == list(range(1, epochs + 1))  # one row per epoch, in order
    assert (curve["seconds"] > 0).all()
    assert curve["val_top1"].between(0, 1).all()
    assert (curve["val_loss"] > 0).all() and (curve["train_loss"] > 0).all()
    assert curve[["train_loss", "val_loss", "seconds"]].notna().all().all()


def metric_row(model, method, seed, round_index, top1, compression):
    """A metric row with every column of METRIC_SCHEMA but schema_version."""
    return {
        "dataset": "toy",
        "model": model,
        "method": method,
        "seed": seed,
        "round": round_index,
        "target_sparsity": 1 - 1 / compression,
        "sparsity": 1 - 1 / compression,
        "compression_ratio": compression,
        "params_total": 1000,
        "params_prunable": 900,
        "params_nonzero": 100 + round(900 / compression),
        "collapsed_layers": 0,
        "top1": top1,
        "top5": 1.0,
        "loss": 0.1,
        "val_top1": top1,
        "val_top5": 1.0,
        "val_loss": 0.1,
        "flops_dense": 2e6,
        "flops_sparse": 2e6 / compression,
        "train_seconds": 1.0,
        "config_hash": "h",
        "git_commit": "c",
        "git_dirty": False,
        "torch_version": "t",
        "device": "cpu",
    }


def flip_bytes_of_tensor(path: Path, tensor: torch.Tensor) -> None:
    """Invert four bytes of `tensor`'s data where `path` stores it: damage that leaves the
    file loadable, as a bad disk or a broken copy would."""
    data = bytearray(path.read_bytes())
    start = data.find(tensor.reshape(-1).view(torch.uint8).numpy().tobytes()[:256])
    assert start > 0
    data[start : start + 4] = bytes(b ^ 0xFF for b in data[start : start + 4])
    path.write_bytes(bytes(data))


def slow_process(args) -> str | None:
    """What makes the command `args` a slow-tier process, or None: Snakemake, DVC (which runs
    Snakemake), or a weightmom step (each starts PyTorch, and most train)."""
    argv = shlex.split(args) if isinstance(args, str) else [os.fspath(arg) for arg in args]
    if not argv:
        return None
    program = Path(argv[0]).name
    if program in ("snakemake", "dvc", "weightmom"):
        return " ".join([program, *argv[1:2]])
    modules = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-m"]
    for module in ("snakemake", "weightmom"):
        if module in modules:
            return " ".join([module, *argv[argv.index(module) + 1 :][:1]])
    return None


def fast_tier_popen(test_name: str) -> type[subprocess.Popen]:
    """subprocess.Popen for a test of the fast tier: it refuses to start a slow-tier process,
    naming the test, so that an unmarked test that runs Snakemake or a step fails at once
    instead of slowing `make test` down."""

    class FastTierPopen(subprocess.Popen):
        def __init__(self, args, *rest, **options):
            culprit = slow_process(args)
            if culprit is not None:
                pytest.fail(
                    f"{test_name} starts {culprit} but is not marked slow: add @pytest.mark.slow "
                    "(the fast tier, `make test`, starts no Snakemake, DVC or step process)",
                    pytrace=False,
                )
            super().__init__(args, *rest, **options)

    return FastTierPopen
