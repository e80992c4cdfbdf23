"""Faults: SIGKILL at every kind of write, a full disk, stale and live Snakemake locks.

After each fault the same command is run again, as a user would: it must complete with
no manual clean-up and give the same final metrics as an uninterrupted run, and at no
point may a file that Snakemake takes as complete be half-written.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pyarrow.parquet as pq
import pytest
import torch

from weightmom.training.checkpoint import load_checkpoint

from helpers import REPO, copy_project, load_test_config, run_snakemake, wait_for_epoch, write_config

FAULTS_DIR = REPO / "tests/faults"
DENSE = "results/demo/runs/digits/cnn/seed0/dense"


def _project(path: Path) -> tuple[Path, str]:
    workdir = copy_project(path)
    return workdir, write_config(workdir, load_test_config("faults"))


def _command(config_path: str, *targets: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", *targets, "--cores", "1", "--configfile", config_path]


def _final_metrics(workdir: Path) -> pd.DataFrame:
    return pd.read_parquet(workdir / "results/demo/metrics.parquet").drop(columns=["train_seconds"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    workdir, config_path = _project(tmp_path_factory.mktemp("reference"))
    result = run_snakemake(workdir, "--cores", "1", "--configfile", config_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir


def _curves(workdir: Path) -> pd.DataFrame:
    return pd.read_parquet(workdir / "results/demo/curves.parquet").drop(columns=["seconds"])


def _assert_same_results(workdir: Path, reference: Path) -> None:
    pd.testing.assert_frame_equal(_final_metrics(workdir), _final_metrics(reference))
    pd.testing.assert_frame_equal(_curves(workdir), _curves(reference))  # a row per epoch, resumed or not
    assert (workdir / "results/demo/tables/digits.md").read_text() == (
        reference / "results/demo/tables/digits.md"
    ).read_text()
    assert not _temporaries(workdir)


def _temporaries(workdir: Path) -> list[str]:
    return sorted(
        str(p.relative_to(workdir)) for d in ("results", "data", "summary") for p in (workdir / d).rglob(".tmp-*")
    )


def _assert_every_output_is_whole(workdir: Path) -> None:
    """What a killed run left: each file under a final name is complete and readable."""
    for path in (workdir / "results").rglob("*"):
        if path.name.startswith(".tmp-") or path.is_dir():
            continue
        if path.name == "checkpoint.pt":
            load_checkpoint(path)
        elif path.suffix == ".parquet":
            pq.read_table(path)


KILLS = [
    # (file, moment, what is killed): training, checkpoint, curve, metrics, collect and table writes
    (f"{DENSE}/resume.pt", "mid-write", "job"),
    (f"{DENSE}/checkpoint.pt", "before-rename", "snakemake"),
    ("weightmom/round1/checkpoint.pt", "mid-write", "job"),
    ("magnitude/round2/curve.parquet", "after-rename", "job"),  # the curve written, the checkpoint not yet
    ("magnitude/round1/metrics.parquet", "after-rename", "snakemake"),
    ("results/demo/metrics.parquet", "mid-write", "snakemake"),
    ("results/demo/tables/digits.csv", "before-rename", "job"),
]


@pytest.mark.slow
def test_sigkill_at_every_kind_of_write_then_the_same_command_completes(tmp_path, reference):
    workdir, config_path = _project(tmp_path / "work")
    faults = [
        {"file": file, "when": when, "kill": kill, "marker": str(tmp_path / f"fired-{i}")}
        for i, (file, when, kill) in enumerate(KILLS)
    ]
    search = os.pathsep.join(filter(None, [str(FAULTS_DIR), os.environ.get("PYTHONPATH")]))  # the caller's too
    env = {**os.environ, "PYTHONPATH": search, "WEIGHTMOM_FAULTS": json.dumps(faults)}
    locks = workdir / ".snakemake/locks"
    stale_lock = False
    for attempt in range(len(KILLS) + 1):
        run = subprocess.run(
            _command(config_path),
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            start_new_session=True,
        )
        assert ("removed a stale Snakemake lock" in run.stderr) == stale_lock, run.stderr[-3000:]
        if run.returncode == 0:
            break
        assert sum(Path(f["marker"]).exists() for f in faults) == attempt + 1  # one fault per run
        _assert_every_output_is_whole(workdir)
        stale_lock = any(locks.glob("*.lock"))  # left when Snakemake itself was killed
    assert run.returncode == 0, run.stderr[-3000:]
    assert attempt == len(KILLS)
    _assert_same_results(workdir, reference)


@pytest.mark.slow
def test_training_job_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, reference):
    """The kill-and-resume check through Snakemake (test_training has the one of a training
    process alone): the training job Snakemake started is killed, and the same command resumes it."""
    workdir, config_path = _project(tmp_path / "work")
    target = f"{DENSE}/checkpoint.pt"
    snakemake = subprocess.Popen(
        _command(config_path, target), cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    resume = workdir / DENSE / "resume.pt"
    wait_for_epoch(snakemake, resume, 3)
    training = next(
        p
        for p in psutil.Process(snakemake.pid).children(recursive=True)
        if p.cmdline()[1:4] == ["-m", "weightmom", "train"]
    )
    training.kill()
    assert snakemake.wait(timeout=120) != 0
    assert not (workdir / target).exists() and resume.exists()

    rerun = run_snakemake(workdir, target, "--cores", "1", "--configfile", config_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    log = (workdir / "logs/demo/digits/cnn/seed0/dense/train.log").read_text()
    first_progress = re.search(r"(\d+)/10 \[", log)
    assert first_progress and int(first_progress.group(1)) >= 3  # the rerun started from the resume file
    first, second = load_checkpoint(reference / target), load_checkpoint(workdir / target)
    assert all(torch.equal(first.state_dict[k], second.state_dict[k]) for k in first.state_dict)


def _wait_for_training(workdir: Path, snakemake: subprocess.Popen) -> None:
    resume, deadline = workdir / DENSE / "resume.pt", time.monotonic() + 300
    while not resume.exists():
        assert snakemake.poll() is None and time.monotonic() < deadline, "training did not start"
        time.sleep(0.05)


@pytest.mark.slow
def test_killed_snakemake_leaves_a_lock_that_the_same_command_clears(tmp_path, reference):
    workdir, config_path = _project(tmp_path / "work")
    first = subprocess.Popen(
        _command(config_path), cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    _wait_for_training(workdir, first)
    os.killpg(first.pid, signal.SIGKILL)  # Snakemake and its job, as a lost node would
    first.wait()
    assert list((workdir / ".snakemake/locks").glob("*.lock"))

    again = subprocess.run(_command(config_path), cwd=workdir, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (
        f"weightmom: removed a stale Snakemake lock left by a killed run (pid {first.pid}); "
        "no Snakemake process is alive in this directory." in again.stderr
    )
    _assert_same_results(workdir, reference)


@pytest.mark.slow
def test_second_invocation_is_refused_by_the_lock_and_nothing_is_corrupted(tmp_path, reference):
    workdir, config_path = _project(tmp_path / "work")
    first = subprocess.Popen(
        _command(config_path), cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _wait_for_training(workdir, first)
    second = subprocess.run(_command(config_path), cwd=workdir, capture_output=True, text=True, timeout=300)
    assert second.returncode != 0
    assert f"weightmom: Snakemake is already running in this directory: pid {first.pid} (" in second.stderr
    assert f"stop it with `kill {first.pid}`" in second.stderr
    assert "Directory cannot be locked" in second.stderr
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err[-3000:]
    _assert_same_results(workdir, reference)
    assert "Nothing to be done" in run_snakemake(workdir, "-n", "--configfile", config_path).stdout


@pytest.mark.slow
def test_lock_held_from_another_machine_is_left_alone_with_the_command_to_clear_it(tmp_path):
    workdir, config_path = _project(tmp_path / "work")
    locks = workdir / ".snakemake/locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(str(workdir / DENSE / "checkpoint.pt") + "\n")
    (locks / "0.input.lock").write_text("")
    holder = {"host": "login-node-7", "boot": "x", "pid": 4242, "start": 1}
    (locks / "weightmom-holder-login-node-7-4242.json").write_text(json.dumps(holder))
    result = run_snakemake(workdir, "-n", "--configfile", config_path)
    assert (
        "weightmom: the lock in .snakemake/locks is held by a Snakemake run on login-node-7 (pid 4242), "
        "which cannot be checked from this machine. If that run is no longer alive, run `snakemake --unlock` "
        "here, then the same command again." in result.stderr
    )
    assert (locks / "0.output.lock").exists()


def _mount_tmpfs(path: Path, size: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return mounted.returncode == 0


@pytest.mark.slow
def test_full_disk_fails_loudly_and_the_rerun_after_freeing_space_completes(tmp_path, reference):
    workdir, config_path = _project(tmp_path / "work")
    used = sum(p.stat().st_size for p in (reference / "results").rglob("*") if p.is_file())
    results = workdir / "results"
    if not _mount_tmpfs(results, used // 2):
        pytest.skip("mounting a small tmpfs needs root and mount permission")
    try:
        full = run_snakemake(workdir, "--cores", "1", "--configfile", config_path)
        assert full.returncode != 0
        logs = "".join(p.read_text() for p in (workdir / "logs").rglob("*.log"))
        assert "cannot write it: No space left on device. Nothing was left half-written" in logs
        _assert_every_output_is_whole(workdir)
        assert not _temporaries(workdir)
        subprocess.run(["mount", "-o", f"remount,size={used * 4}", str(results)], check=True)
        again = run_snakemake(workdir, "--cores", "1", "--configfile", config_path)
        assert again.returncode == 0, again.stderr[-3000:]
        _assert_same_results(workdir, reference)
    finally:
        subprocess.run(["umount", "-l", str(results)], check=False)


@pytest.mark.slow
def test_fault_injection_script_survives_its_cycles(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks/fault_injection.py"),
            "--cycles",
            "2",
            "--model",
            "mlp",
            "--epochs",
            "6",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "cycles survived: 2/2; metric mismatches: 0; weight mismatches: 0" in result.stdout


def _stale_lock_module():
    spec = importlib.util.spec_from_file_location("stale_lock", REPO / "workflow/lib/stale_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _lock_check_in(directory: Path, monkeypatch, directories_visible: bool = True):
    """The lock check, working in `directory`, which holds a lock some run left; with
    `directories_visible` False it sees no process's working directory, as in sandboxes
    that refuse them. Returns the check's module and the lock directory."""
    stale_lock = _stale_lock_module()
    if not directories_visible:
        monkeypatch.setattr(stale_lock, "working_directory", lambda pid: None)
    monkeypatch.chdir(directory)
    locks = directory / ".snakemake/locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("results/x\n")
    return stale_lock, locks


@pytest.mark.parametrize("holder_alive", [True, False])
def test_lock_of_a_live_holder_is_kept_and_of_a_dead_one_removed(tmp_path, monkeypatch, capsys, holder_alive):
    stale_lock, locks = _lock_check_in(tmp_path, monkeypatch)
    holder_process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid = holder_process.pid
        holder = {
            "host": socket.gethostname(),
            "boot": stale_lock.boot_id(),
            "pid": pid,
            "start": stale_lock.process_start(pid),
        }
        if not holder_alive:
            holder_process.kill()
            holder_process.wait()
        (locks / f"weightmom-holder-{pid}.json").write_text(json.dumps(holder))
        stale_lock.clear_stale_lock()
    finally:
        holder_process.kill()
        holder_process.wait()
    message = capsys.readouterr().err
    if holder_alive:
        assert (locks / "0.output.lock").exists()
        assert f"pid {pid} (the run holding the lock)" in message and f"`kill {pid}`" in message
    else:
        assert not locks.exists()
        assert f"removed a stale Snakemake lock left by a killed run (pid {pid})" in message


# Stands in for Snakemake: records itself as the lock holder (its onstart hook), starts one
# pipeline step as Snakemake's local executor does (same process group), prints its pid, waits.
_FAKE_SNAKEMAKE = """
import importlib.util, subprocess, sys, time
spec = importlib.util.spec_from_file_location("stale_lock", sys.argv[1])
stale_lock = importlib.util.module_from_spec(spec)
spec.loader.exec_module(stale_lock)
stale_lock.record_lock_holder()
job = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(job.pid, flush=True)
time.sleep(600)
"""


def _train_command(digits_dir: Path) -> list[str]:
    recipe = json.dumps({"epochs": 500, "batch_size": 64, "lr": 0.05})
    return [
        sys.executable,
        "-m",
        "weightmom",
        "train",
        "--data",
        str(digits_dir),
        "--dataset",
        "digits",
        "--model",
        "mlp",
        "--seed",
        "0",
        "--recipe",
        recipe,
        "--threads",
        "1",
        "--device",
        "cpu",
        "--out",
        "results/x",
    ]


def _wait_until_dead(pid: int) -> None:
    """Until `pid` is gone or a zombie: it is no longer our child, so it cannot be waited for."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} still runs 30 s after SIGKILL")


def _what_stale_lock_sees(stale_lock, pid: int) -> str:
    """For a failure message: what the lock check read of `pid` and of the holder records."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError as error:
        argv = error
    return (
        f"pid {pid}: argv {argv!r}, process group {stale_lock.process_group(pid)}, working directory "
        f"{stale_lock.working_directory(pid)} (here {os.stat('.').st_dev, os.stat('.').st_ino}); "
        f"holders {stale_lock.lock_holders()}; this process {os.getpid()}, lineage {sorted(stale_lock.lineage())}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("directories_visible", [True, False], ids=["cwd-readable", "cwd-hidden"])
def test_lock_is_kept_while_jobs_of_a_killed_snakemake_still_run(
    tmp_path, monkeypatch, capsys, digits_dir, directories_visible
):
    """Only Snakemake is killed (the OOM killer, `kill -9 <pid>`): its job runs on. Where the
    machine hides other processes' working directories, the job is found by process group."""
    stale_lock, locks = _lock_check_in(tmp_path, monkeypatch, directories_visible)
    snakemake = subprocess.Popen(
        [sys.executable, "-c", _FAKE_SNAKEMAKE, str(REPO / "workflow/lib/stale_lock.py"), *_train_command(digits_dir)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        job = int(snakemake.stdout.readline())
        snakemake.kill()
        snakemake.wait()
        assert stale_lock.process_start(job) is not None
        stale_lock.clear_stale_lock()
        seen = _what_stale_lock_sees(stale_lock, job)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the group is gone if its job already ended
            os.killpg(snakemake.pid, signal.SIGKILL)
    message = capsys.readouterr().err
    assert f"weightmom: jobs of a killed Snakemake run still run in this directory: pid {job} (" in message, seen
    assert f"stop them with `kill {job}`" in message
    assert (locks / "0.output.lock").exists()
    _wait_until_dead(job)
    stale_lock.clear_stale_lock()
    assert not locks.exists()
    assert f"removed a stale Snakemake lock left by a killed run (pid {snakemake.pid})" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("directories_visible", [True, False], ids=["cwd-readable", "cwd-hidden"])
def test_a_job_of_another_directory_does_not_hold_the_lock(
    tmp_path, monkeypatch, capsys, digits_dir, directories_visible
):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    stale_lock, locks = _lock_check_in(here, monkeypatch, directories_visible)
    job = subprocess.Popen(
        _train_command(digits_dir), cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        stale_lock.clear_stale_lock()
    finally:
        job.kill()
        job.wait()
    assert not locks.exists()
    assert "removed a stale Snakemake lock left by a killed run (a run that left no record)" in capsys.readouterr().err
