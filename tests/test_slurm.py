"""The SLURM profile on a real single-node cluster (slurmctld, slurmd, slurmdbd with
MariaDB accounting, munge), started by scripts/slurm-cluster.sh on 127.0.0.1: the demo
workflow goes through sbatch and ends with the same tables as a local run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from weightmom.training.checkpoint import load_checkpoint

from helpers import REPO, copy_project, load_test_config, reduced_demo_config, run_snakemake, write_config

SCRIPT = REPO / "scripts/slurm-cluster.sh"
sys.path.insert(0, str(REPO / "scripts"))
import slurm_submissions as submissions  # noqa: E402

pytestmark = pytest.mark.slow  # a cluster, or Snakemake dry runs


def _can_install() -> str | None:
    if os.geteuid() != 0:
        return "needs root to install and start a SLURM cluster"
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        return "SLURM is not installed and there is no apt-get to install it"
    return None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = _can_install()
    if reason:
        pytest.skip(reason)
    env = {**os.environ, "SLURM_TEST_STATE": str(tmp_path_factory.mktemp("slurm-state"))}
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=900)
    try:
        assert started.returncode == 0, f"the test cluster did not start:\n{started.stderr[-3000:]}"
        yield
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


def _workdir(path: Path, config: dict) -> Path:
    copy_project(path)
    write_config(path, config)
    return path


def _cpu_profile(workdir: Path) -> Path:
    """profiles/slurm as shipped, sized for the test cluster (no GPU, a few GB of memory)
    and with quick status checks."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    for resources in profile["set-resources"].values():
        resources.pop("gpu", None)
        if "mem_mb" in resources:
            resources["mem_mb"] = 2000
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile["seconds-between-status-checks"] = 2
    target = workdir / "profiles/slurm-cpu"
    target.mkdir()
    (target / "config.yaml").write_text(yaml.safe_dump(profile))
    return target


def _snakemake(workdir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, "--configfile", "config/test.yaml", *args, env=env, timeout=1200)


def test_an_evaluation_goes_to_slurm_with_the_job_that_made_it(tmp_path):
    """The SLURM profile's dry run (no cluster needed): one submission per training job."""
    workdir = copy_project(tmp_path)
    config = reduced_demo_config()  # 2 seeds x 1 model; 4 methods x 2 rounds
    plan = run_snakemake(
        workdir, "--dry-run", "--profile", "profiles/slurm", "--configfile", write_config(workdir, config)
    )
    assert plan.returncode == 0, plan.stderr[-3000:]
    log = plan.stdout + plan.stderr
    counts = submissions.count(log, submissions.local_rules(workdir))
    dense, rounds, finals = 2, 2 * 4 * 2, 2 * 4
    assert counts["train_dense"] == dense and counts["prune_round"] == rounds and counts["evaluate"] == dense + rounds
    assert counts["export"] == dense + finals  # the dense and final-round networks, each with its checkpoint's job
    assert counts["without groups"] == 1 + 2 * (dense + rounds) + dense + finals
    assert counts["with groups"] == 1 + dense + rounds
    group = log.split("Group job digits-mlp-seed1-lottery-round2 ", 1)[1].split("Group job", 1)[0]
    assert "rule prune_round:" in group and "rule evaluate:" in group and "rule export:" in group
    assert "stage=lottery/round2" in group and "method=lottery, round=2" in group.replace("\n", " ")


def test_demo_through_sbatch_matches_a_local_run(cluster, tmp_path):
    config = load_test_config("slurm")
    local = _workdir(tmp_path / "local", config)
    on_slurm = _workdir(tmp_path / "slurm", config)
    local_run = _snakemake(local, "--cores", "2")
    assert local_run.returncode == 0, local_run.stderr[-3000:]
    profile = str(_cpu_profile(on_slurm))
    plan = _snakemake(on_slurm, "--profile", profile, "--dry-run")
    (on_slurm / "plan.log").write_text(plan.stdout + plan.stderr)
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    slurm_run = _snakemake(on_slurm, "--profile", profile)
    assert slurm_run.returncode == 0, slurm_run.stderr[-5000:]

    for name in ("digits.md", "digits.csv"):
        assert (on_slurm / "results/demo/tables" / name).read_bytes() == (
            local / "results/demo/tables" / name
        ).read_bytes()
    accounting = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-S", started, "-o", "JobID,WorkDir,State"], capture_output=True, text=True
    ).stdout
    submitted = [line for line in accounting.splitlines() if f"|{on_slurm}|" in line]  # this test's jobs only
    # One sbatch job each: prepare; the dense run with its evaluation and export; 2 methods x
    # 2 rounds, each with its evaluation (and the final rounds with their export). Without
    # groups it would be 1 + 1 + 4 + 5 + 3 = 14.
    assert len(submitted) == 1 + 1 + 4, accounting
    assert all("COMPLETED" in line for line in submitted), accounting
    planned = submissions.count((on_slurm / "plan.log").read_text(), submissions.local_rules(on_slurm))
    assert planned["with groups"] == len(submitted) and planned["without groups"] == 14


def test_a_failed_evaluation_keeps_the_checkpoint_its_submission_made(cluster, tmp_path):
    """The evaluation dies in the submission that also trained the round: the finished
    checkpoint stays (keep-incomplete; outputs are written whole or not at all), and the
    next run evaluates it without training it again."""
    workdir = _workdir(tmp_path / "slurm", load_test_config("slurm"))
    profile = str(_cpu_profile(workdir))
    fault = {
        "file": "lottery/round1/metrics.parquet",
        "when": "mid-write",
        "kill": "job",
        "marker": str(tmp_path / "fired"),
    }
    env = {"PYTHONPATH": str(REPO / "tests/faults"), "WEIGHTMOM_FAULTS": json.dumps([fault])}
    failed = _snakemake(workdir, "--profile", profile, env=env)
    assert failed.returncode != 0 and (tmp_path / "fired").exists(), failed.stderr[-3000:]
    round_dir = workdir / "results/demo/runs/digits/mlp/seed0/lottery/round1"
    checkpoint = round_dir / "checkpoint.pt"
    assert checkpoint.exists() and not (round_dir / "metrics.parquet").exists()
    made = checkpoint.stat().st_mtime_ns
    load_checkpoint(checkpoint)

    rerun = _snakemake(workdir, "--profile", profile)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert checkpoint.stat().st_mtime_ns == made  # evaluated, not trained again
    assert (round_dir / "metrics.parquet").exists()
