"""Fixtures only; what the tests share besides is in helpers.py."""

from __future__ import annotations

import subprocess

import pytest
import torch

from weightmom.data.splits import load_split
from weightmom.runtime import gpu_slots
from weightmom.steps.data import prepare_data
from weightmom.steps.train import train_dense

from fake_cifar import make_archive
from helpers import DIGITS_SPEC, FAST_RECIPE, fast_tier_popen


@pytest.fixture(autouse=True)
def fast_tier_starts_no_slow_process(request, monkeypatch):
    """A test marked neither slow nor gpu is of the fast tier (`make test`): there, starting
    Snakemake, DVC or a training step fails the test, naming it. Checked where processes start
    (subprocess.Popen), so it holds whatever helper or call the test uses."""
    if request.node.get_closest_marker("slow") is None and request.node.get_closest_marker("gpu") is None:
        monkeypatch.setattr(subprocess, "Popen", fast_tier_popen(request.node.nodeid))


@pytest.fixture(autouse=True)
def private_gpu_slots(tmp_path_factory, monkeypatch):
    """Each test claims GPU slots (weightmom.runtime.gpu_slots) in its own lock folder, it and the
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
