"""Spreading GPU jobs over a node's devices (weightmom.runtime.gpu_slots, weightmom.runtime.devices),
tested without GPUs: device identities are made up, holders are separate processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from weightmom.cli import _parser
from weightmom.runtime import devices, gpu_slots

HOLDER = """
import sys, time
from pathlib import Path
from weightmom.runtime import gpu_slots
slot = gpu_slots.claim(sys.argv[2].split(","), int(sys.argv[3]), Path(sys.argv[1]), poll_seconds=0.05)
print(slot.device_index, flush=True)
time.sleep(120)
"""


def _holder(lock_dir: Path, ids: str, jobs_per_gpu: int = 1) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_dir), ids, str(jobs_per_gpu)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _device_of(holder: subprocess.Popen) -> int:
    """The device index a holder process claimed (it prints it once it holds the slot)."""
    line = holder.stdout.readline()
    assert line, holder.stderr.read()
    return int(line)


def _stderr_so_far(process: subprocess.Popen) -> str:
    os.set_blocking(process.stderr.fileno(), False)
    return process.stderr.read() or ""


@pytest.fixture
def holders():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def test_jobs_take_different_devices_and_a_killed_job_frees_its_own(tmp_path, holders):
    first, second = _holder(tmp_path, "gpu-a,gpu-b"), _holder(tmp_path, "gpu-a,gpu-b")
    holders += [first, second]
    first_device, second_device = _device_of(first), _device_of(second)
    assert {first_device, second_device} == {0, 1}
    waiting = _holder(tmp_path, "gpu-a,gpu-b")
    holders.append(waiting)
    time.sleep(1.0)
    assert waiting.poll() is None  # every device has its job: the third waits
    assert "waiting for a GPU" in _stderr_so_far(waiting)
    first.send_signal(signal.SIGKILL)  # no clean-up code runs: the kernel drops the lock
    first.wait()
    assert _device_of(waiting) == first_device


def test_slots_fill_every_device_before_doubling_up(tmp_path):
    ids = ["gpu-a", "gpu-b"]
    claimed = [gpu_slots.try_claim(ids, 2, tmp_path) for _ in range(4)]
    assert [(s.device_index, s.slot) for s in claimed] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert gpu_slots.try_claim(ids, 2, tmp_path) is None
    gpu_slots.release_all()
    assert gpu_slots.try_claim(ids, 2, tmp_path).device_index == 0


def test_one_job_per_gpu_unless_asked(tmp_path):
    assert gpu_slots.try_claim(["gpu-a"], 1, tmp_path) is not None
    assert gpu_slots.try_claim(["gpu-a"], 1, tmp_path) is None
    with pytest.raises(ValueError, match="jobs_per_gpu"):
        gpu_slots.try_claim(["gpu-a"], 0, tmp_path)


def _fake_gpus(monkeypatch, count: int) -> list[torch.device]:
    """PyTorch reporting `count` GPUs, each with its own UUID; set_device is recorded."""
    chosen: list[torch.device] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(uuid=f"uuid-{index}"))
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    return chosen


def test_auto_takes_the_gpu_no_other_job_holds(tmp_path, monkeypatch, holders):
    monkeypatch.setenv(gpu_slots.LOCK_DIR_VARIABLE, str(tmp_path))
    chosen = _fake_gpus(monkeypatch, 2)
    ids = ",".join(devices.visible_gpu_ids())
    other_job = _holder(tmp_path, ids)
    holders.append(other_job)
    assert _device_of(other_job) == 0
    assert devices.resolve_device("auto") == torch.device("cuda", 1)
    assert devices.resolve_device("cuda") == torch.device("cuda", 1)  # one slot per process
    assert chosen[-1] == torch.device("cuda", 1)
    assert devices.resolve_device("cuda:0") == torch.device("cuda", 0)  # pinned: as asked


def test_auto_without_a_gpu_is_the_cpu_and_cuda_is_an_error(monkeypatch):
    _fake_gpus(monkeypatch, 0)
    assert devices.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(Exception, match="sees no GPU"):
        devices.resolve_device("cuda")


def test_jobs_per_gpu_reaches_the_steps_from_the_environment(monkeypatch):
    monkeypatch.setenv("WEIGHTMOM_JOBS_PER_GPU", "3")
    args = _parser().parse_args(
        [
            "evaluate",
            "--threads",
            "1",
            "--device",
            "auto",
            "--checkpoint",
            "c",
            "--data",
            "d",
            "--metrics-out",
            "m",
            "--layers-out",
            "l",
        ]
    )
    assert args.jobs_per_gpu == 3


def test_a_freed_slot_goes_to_the_least_busy_device(tmp_path, holders):
    started = []
    for _ in range(3):  # one after another: a slot 0, b slot 0, a slot 1
        holders.append(_holder(tmp_path, "gpu-a,gpu-b", 2))
        started.append(_device_of(holders[-1]))
    assert started == [0, 1, 0]
    for job in holders[:2]:  # a's first job and b's job end; a still runs one
        job.kill()
        job.wait()
    assert gpu_slots.try_claim(["gpu-a", "gpu-b"], 2, tmp_path).device_index == 1
