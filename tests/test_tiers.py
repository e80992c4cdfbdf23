"""The test set-up itself: the fast tier refuses slow processes, the .test/ configs run as
they are, and the tree is clean for ruff."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO, TEST_CONFIGS, WORKFLOW_FILES, copy_project, run_snakemake, slow_process

RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


@pytest.mark.parametrize(
    "command, culprit",
    [
        ([sys.executable, "-m", "snakemake", "-n"], "snakemake -n"),
        (["/usr/bin/snakemake", "--lint"], "snakemake --lint"),
        (["dvc", "repro", "experiment@demo"], "dvc repro"),
        ([sys.executable, "-m", "weightmom", "train", "--out", "x"], "weightmom train"),
        (f"{sys.executable} -m weightmom evaluate --checkpoint c", "weightmom evaluate"),
        ([sys.executable, "-c", "print(1)"], None),
        (["git", "rev-parse", "HEAD"], None),
        (["pdflatex", "doc.tex"], None),
    ],
)
def test_slow_processes_are_told_from_others(command, culprit):
    assert slow_process(command) == culprit


def test_a_fast_test_that_starts_snakemake_fails_naming_itself(request):
    with pytest.raises(
        pytest.fail.Exception, match=re.escape(f"{request.node.name} starts snakemake --version but is not marked slow")
    ):
        subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True)
    assert subprocess.run([sys.executable, "-c", "pass"]).returncode == 0  # other processes start as before


@pytest.mark.slow
def test_a_slow_test_may_start_snakemake():
    assert subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(path.stem for path in TEST_CONFIGS.glob("*.yaml")))
def test_each_test_config_plans_by_hand_under_its_own_name(name, tmp_path):
    """`snakemake --configfile .test/<name>.yaml` from the repository root, as a dry run: the
    file says what it is for, and keeps its results apart from the demo's."""
    text = (TEST_CONFIGS / f"{name}.yaml").read_text()
    assert text.startswith("# ") and "minute" in text.split("\nexperiment:")[0]
    assert yaml.safe_load(text)["experiment"] == name
    workdir = copy_project(tmp_path, (*WORKFLOW_FILES, ".test"))
    plan = run_snakemake(workdir, "-n", "--cores", "2", "--configfile", f".test/{name}.yaml")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert f"results/{name}/metrics.parquet" in plan.stdout


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed (pip install -e '.[dev]')")
def test_ruff_finds_nothing_to_fix():
    check = subprocess.run([RUFF, "check", "--output-format", "concise", "."], cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout[-3000:]
    formatted = subprocess.run([RUFF, "format", "--check", "."], cwd=REPO, capture_output=True, text=True)
    assert formatted.returncode == 0, formatted.stdout[-3000:]
