"""Sharing results with DVC, for real: compute, push to a directory remote, pull into a
fresh clone, and Snakemake finds nothing to do there (what `make pull` does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO, WORKFLOW_FILES, copy_project

BIN = Path(sys.executable).parent
DVC_FILES = ("dvc.yaml", ".dvc/config", ".dvcignore", ".gitignore", "src/weightmom")


def _run(cwd: Path, *command: str) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result.stdout + result.stderr


def _small_config() -> dict:
    config = yaml.safe_load((REPO / "config/demo.yaml").read_text())
    config["methods"] = {name: config["methods"][name] for name in ("weightmom", "magnitude")}
    config["tables"] = {"digits": {"dataset": "digits", "models": ["mlp"]}}
    config["training"]["dense"]["epochs"] = 3
    config["training"]["finetune"]["epochs"] = 1
    config["pruning"]["rounds"] = 2
    return config


def test_push_pull_round_trip_and_staleness(tmp_path):
    origin, clone, remote = tmp_path / "origin", tmp_path / "clone", tmp_path / "remote"
    copy_project(origin, WORKFLOW_FILES + DVC_FILES)
    (origin / "config/config.yaml").write_text(yaml.safe_dump(_small_config()))
    _run(origin, "git", "init", "-q")
    _run(origin, "git", "add", "-A")
    _run(origin, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pipeline")
    _run(origin, "dvc", "remote", "modify", "--local", "storage", "url", str(remote))

    _run(origin, "dvc", "repro")
    assert "top1" in _run(origin, "dvc", "metrics", "show")
    _run(origin, "dvc", "push")
    _run(origin, "git", "add", "dvc.lock")
    _run(origin, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results")

    _run(tmp_path, "git", "clone", "-q", str(origin), str(clone))
    _run(clone, "dvc", "remote", "modify", "--local", "storage", "url", str(remote))
    _run(clone, "dvc", "pull")
    _run(clone, "snakemake", "--touch", "--cores", "1")  # the second half of `make pull`
    assert "Nothing to be done" in _run(clone, "snakemake", "-n", "--cores", "1")
    for table in (origin / "results/tables").iterdir():
        assert (clone / "results/tables" / table.name).read_bytes() == table.read_bytes()
    assert "up to date" in _run(clone, "dvc", "status")

    config = yaml.safe_load((clone / "config/config.yaml").read_text())
    config["training"]["finetune"]["epochs"] = 2
    (clone / "config/config.yaml").write_text(yaml.safe_dump(config))
    dvc_status = _run(clone, "dvc", "status")
    assert "changed deps" in dvc_status and "config/config.yaml" in dvc_status
    plan = _run(clone, "snakemake", "-n", "--cores", "1")
    assert "prune_round" in plan and "train_dense" not in plan.split("Job stats")[-1]
