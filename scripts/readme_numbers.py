"""Keep the numbers the README quotes in prose equal to what the code computes now.

A quoted number is marked inline: `<!-- n:NAME -->VALUE<!-- /n -->` (the marks do not show
in rendered Markdown). NAME is one of NUMBERS below: job and submission counts from
Snakemake's dry runs of the configs (every job, done or not: --forceall), the paper grid's
training plan and its projected GPU time from the speeds stored in the package
(src/weightmom/runtime/gpu_speeds.yaml), and wall times measured by hand, read from
benchmarks/measurements.yaml.

    python scripts/readme_numbers.py README.md docs/*.md           # rewrite every mark
    python scripts/readme_numbers.py --check README.md docs/*.md   # exit 1 naming each stale one

`make readme` runs it; tests/test_readme.py runs the check.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

MARK = re.compile(r"<!-- n:(?P<name>[\w.]+) -->(?P<value>.*?)<!-- /n -->")
PAPER = "config/config.yaml"


def _count(value: int) -> str:
    return f"{value:,}"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


@cache
def _config(path: str) -> dict:
    return yaml.safe_load((ROOT / path).read_text())


@cache
def _jobs(path: str) -> dict[str, int]:
    """Jobs per rule (and `total`) of every job of a config: Snakemake's dry run."""
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--forceall", "--configfile", path],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"dry run of {path} failed: {run.stderr[-2000:]}")
    table = re.search(r"Job stats:\n(.*?)\n\s*\n", run.stdout + run.stderr + "\n\n", re.S)[1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


@cache
def _submissions(path: str) -> dict[str, int]:
    from slurm_submissions import submissions

    return submissions(path, forceall=True)


@cache
def _plan(path: str):
    from weightmom.runtime.plan import training_plan

    return training_plan(_config(path))


def _gpu_device() -> str:
    from weightmom.runtime.projection import stored_gpu_speeds

    return stored_gpu_speeds().device


def _gpu_hours(path: str) -> str:
    """The training of `path`'s plan on the stored speeds' GPU, with its jobs_per_gpu."""
    from weightmom.runtime.preflight import gpu_estimate
    from weightmom.runtime.projection import dataset_size

    config, jobs = _config(path), _plan(path)
    sizes = {name: dataset_size(config["datasets"][name]) for name in {job.dataset for job in jobs}}
    return f"{gpu_estimate(jobs, sizes, config.get('jobs_per_gpu', 1)).seconds / 3600:,.0f}"


@cache
def _measured(name: str) -> dict:
    return yaml.safe_load((ROOT / "benchmarks/measurements.yaml").read_text())[name]


NUMBERS: dict[str, Callable[[], str]] = {
    "paper.jobs": lambda: _count(_jobs(PAPER)["total"]),
    "paper.exports": lambda: _count(_jobs(PAPER)["export"]),
    "paper.training_jobs": lambda: _count(len(_plan(PAPER))),
    "paper.epochs": lambda: _count(sum(job.epochs for job in _plan(PAPER))),
    "paper.gpu_hours": lambda: _gpu_hours(PAPER),
    "paper.gpu_speeds_device": _gpu_device,
    "slurm.cluster_jobs": lambda: _count(_submissions(PAPER)["without groups"]),
    "slurm.downloads": lambda: _count(_submissions(PAPER)["download_data"]),
    "slurm.preparations": lambda: _count(_submissions(PAPER)["prepare_data"]),
    "slurm.dense_runs": lambda: _count(_submissions(PAPER)["train_dense"]),
    "slurm.pruning_rounds": lambda: _count(_submissions(PAPER)["prune_round"]),
    "slurm.evaluations": lambda: _count(_submissions(PAPER)["evaluate"]),
    "slurm.exports": lambda: _count(_submissions(PAPER)["export"]),
    "slurm.submissions": lambda: _count(_submissions(PAPER)["with groups"]),
    "demo.jobs": lambda: _count(_jobs("config/demo.yaml")["total"]),
    "demo.exports": lambda: _count(_jobs("config/demo.yaml")["export"]),
    "measured.demo": lambda: _duration(_measured("demo")["seconds"]),
    "measured.demo_date": lambda: _measured("demo")["date"],
    "measured.install": lambda: _duration(_measured("install")["seconds"]),
    "measured.test_all": lambda: _duration(_measured("test_all")["seconds"]),
    "measured.test_all_date": lambda: _measured("test_all")["date"],
}


def refresh(text: str, where: str) -> tuple[str, list[str]]:
    """`text` with every mark's value computed now, and a line for each that changed."""
    stale = []

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in NUMBERS:
            raise ValueError(f"{where}: <!-- n:{name} --> is no known number; known: {', '.join(NUMBERS)}")
        value = NUMBERS[name]()
        if value != match["value"]:
            stale.append(f"{where}: {name} is {value}, the text says {match['value']}")
        return f"<!-- n:{name} -->{value}<!-- /n -->"

    return MARK.sub(replace, text), stale


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="compare, change nothing")
    args = parser.parse_args(argv)
    all_stale = []
    for path in args.files:
        text = path.read_text()
        try:
            updated, stale = refresh(text, str(path))
        except ValueError as error:
            print(f"readme_numbers: {error.args[0]}", file=sys.stderr)
            return 1
        all_stale += stale
        if not args.check and updated != text:
            path.write_text(updated)
    for line in all_stale:
        print(f"readme_numbers: {line}{': run `make readme`' if args.check else ' (updated)'}", file=sys.stderr)
    return 1 if args.check and all_stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
