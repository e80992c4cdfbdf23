"""The README's result tables are the pipeline's (scripts/readme_tables.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, copy_project, run_snakemake

SCRIPT = REPO / "scripts/readme_tables.py"
TABLE = "# A title\n\n| a | b |\n|:--|--:|\n| x | {value} |\n\nA footnote.\n"


def _script(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=60)


def test_blocks_are_checked_and_rewritten_from_the_tables(tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t/one.md").write_text(TABLE.format(value=1))
    readme = tmp_path / "README.md"
    readme.write_text("Intro.\n<!-- table: t/one.md -->\n| a | b |\n|:--|--:|\n| x | 0 |\n<!-- end table -->\nOutro.\n")
    stale = _script("--check", "--readme", readme, "--root", tmp_path)
    assert stale.returncode == 1 and "t/one.md differs" in stale.stderr
    assert _script("--readme", readme, "--root", tmp_path).returncode == 0
    assert readme.read_text() == "Intro.\n<!-- table: t/one.md -->\n| a | b |\n|:--|--:|\n| x | 1 |\n<!-- end table -->\nOutro.\n"
    assert _script("--check", "--readme", readme, "--root", tmp_path).returncode == 0
    (tmp_path / "t/one.md").unlink()
    missing = _script("--check", "--readme", readme, "--root", tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_the_readme_embeds_every_experiments_tables():
    text = (REPO / "README.md").read_text()
    for path in ("results/demo/tables/digits.md", "results/demo/tables/digits_ablation.md", "results/cifar10-cpu/tables/cifar10_jpeg.md"):
        assert f"<!-- table: {path} -->" in text


@pytest.mark.slow
def test_the_readmes_demo_tables_are_what_the_current_code_makes(tmp_path):
    workdir = copy_project(tmp_path)
    run = run_snakemake(workdir, "--cores", "2", "--configfile", "config/demo.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    check = _script("--check", "--readme", REPO / "README.md", "--root", workdir, "--only", "results/demo/")
    assert check.returncode == 0, check.stderr
