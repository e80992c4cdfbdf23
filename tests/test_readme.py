"""The README's result tables are the pipeline's (scripts/readme_tables.py), and its hand-run commands work."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

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
    assert (
        readme.read_text()
        == "Intro.\n<!-- table: t/one.md -->\n| a | b |\n|:--|--:|\n| x | 1 |\n<!-- end table -->\nOutro.\n"
    )
    assert _script("--check", "--readme", readme, "--root", tmp_path).returncode == 0
    (tmp_path / "t/one.md").unlink()
    missing = _script("--check", "--readme", readme, "--root", tmp_path)
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_the_readme_embeds_every_experiments_tables():
    text = (REPO / "README.md").read_text()
    for path in (
        "results/demo/tables/digits.md",
        "results/demo/tables/digits_ablation.md",
        "results/cifar10-cpu/tables/cifar10_jpeg.md",
        "results/demo/tables/claims.md",
        "results/paper-cpu/tables/claims.md",
        "results/paper-gpu/tables/claims.md",
        "results/paper-cpu/tables/cifar10_jpeg.md",
        "results/paper-cpu/tables/cifar100_jpeg.md",
    ):
        assert f"<!-- table: {path} -->" in text


@pytest.mark.slow
def test_the_readmes_demo_tables_are_what_the_current_code_makes(tmp_path):
    workdir = copy_project(tmp_path)
    run = run_snakemake(workdir, "--cores", "2", "--configfile", "config/demo.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    check = _script("--check", "--readme", REPO / "README.md", "--root", workdir, "--only", "results/demo/")
    assert check.returncode == 0, check.stderr


def readme_hand_run_commands() -> list[str]:
    """The commands of the README's "Running a step by hand" block, continuation lines joined."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Running a step by hand", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_readmes_hand_run_block_is_what_the_test_runs():
    commands = readme_hand_run_commands()
    assert all(command.startswith("python -m weightmom ") for command in commands)
    steps = [command.split()[3] for command in commands]
    assert steps == ["prepare", "train", "prune", "evaluate", "show", "--help"]


@pytest.mark.slow
def test_the_readmes_hand_run_commands_work(tmp_path):
    """Run as written, from an empty folder, on the digits data (trains a CNN: about 30 s on one thread)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    outputs = []
    for command in readme_hand_run_commands():
        arguments = [sys.executable, *shlex.split(command)[1:]]
        run = subprocess.run(arguments, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{command}\n{run.stderr[-2000:]}"
        outputs.append(run.stdout)
    round1 = tmp_path / "results/mine/runs/digits/cnn/seed0/magnitude/round1"
    assert {"checkpoint.pt", "settings.json", "metrics.parquet", "layers.parquet", "curve.parquet"} <= {
        p.name for p in round1.iterdir()
    }
    shown = outputs[4]
    assert "method magnitude, seed 0, round 1" in shown and "compression 4.00x" in shown and "test top-1 (%)" in shown
    assert "show" in outputs[5] and "compare" in outputs[5]


NUMBERS = REPO / "scripts/readme_numbers.py"
sys.path.insert(0, str(REPO / "scripts"))
import readme_numbers  # noqa: E402  (its duration format)


def _numbers(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, NUMBERS, *map(str, args)], capture_output=True, text=True, timeout=600)


def test_a_stale_quoted_number_fails_the_check_and_make_readme_rewrites_it(tmp_path):
    measured = yaml.safe_load((REPO / "benchmarks/measurements.yaml").read_text())["demo"]
    page = tmp_path / "page.md"
    page.write_text(
        "The demo takes <!-- n:measured.demo -->1 s<!-- /n --> (<!-- n:measured.demo_date -->x<!-- /n -->).\n"
    )
    stale = _numbers("--check", page)
    assert stale.returncode == 1
    assert (
        f"page.md: measured.demo is {readme_numbers._duration(measured['seconds'])}, the text says 1 s" in stale.stderr
    )
    assert "run `make readme`" in stale.stderr
    assert _numbers(page).returncode == 0
    assert f"<!-- n:measured.demo_date -->{measured['date']}<!-- /n -->" in page.read_text()
    assert _numbers("--check", page).returncode == 0
    page.write_text("<!-- n:paper.speed_of_light -->1<!-- /n -->\n")
    unknown = _numbers("--check", page)
    assert unknown.returncode == 1 and "paper.speed_of_light --> is no known number" in unknown.stderr


@pytest.mark.slow
def test_every_number_quoted_in_the_readme_and_docs_is_what_the_code_computes_now():
    """Job and submission counts (dry runs), the paper grid's plan and GPU projection, and
    the measured times of benchmarks/measurements.yaml, wherever the text quotes them."""
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert sum("<!-- n:" in page.read_text() for page in pages) >= 1
    check = _numbers("--check", *pages)
    assert check.returncode == 0, check.stderr
