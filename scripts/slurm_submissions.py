"""How many sbatch submissions a run makes with the SLURM profile, from its dry run.

    python scripts/slurm_submissions.py --configfile config/config.yaml [--profile profiles/slurm]

Every job of a non-local rule is one submission, except that the jobs of one group (a
checkpoint's evaluation and the job that made it, see the rules' `group`) go as one. Prints
the submissions without grouping (one per job) and with it, as Snakemake plans them now
(jobs already done count for nothing). Local rules are those of the workflow's
`localrules:` directives.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def local_rules(root: Path = ROOT) -> set[str]:
    names: set[str] = set()
    for path in sorted((root / "workflow/rules").glob("*.smk")):
        for block in re.findall(r"^localrules:\n((?:[ \t]+\w+,?\n)+)", path.read_text(), flags=re.M):
            names.update(re.findall(r"\w+", block))
    return names


def count(dry_run: str, local: set[str]) -> dict[str, int]:
    """Jobs per rule, and submissions without and with grouping, from a dry run's log."""
    per_rule: Counter[str] = Counter()
    groups = ungrouped = 0
    for line in dry_run.splitlines():
        if re.match(r"^\[[^]]*\] Group job ", line):
            groups += 1
        elif match := re.match(r"^( *)rule (\w+):$", line):
            indent, rule = match.groups()
            if rule in local or rule == "all":
                continue
            per_rule[rule] += 1
            ungrouped += indent == ""
    return {**per_rule, "without groups": sum(per_rule.values()), "with groups": groups + ungrouped}


def submissions(configfile: str, profile: str = str(ROOT / "profiles/slurm"), forceall: bool = False) -> dict[str, int]:
    """count() of the profile's dry run of `configfile` in ROOT; with `forceall`, of every
    job of the config, done or not."""
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--profile", profile, "--configfile", configfile]
        + (["--forceall"] if forceall else []),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if run.returncode != 0:
        raise RuntimeError(f"the dry run failed: {run.stdout[-2000:]}{run.stderr[-3000:]}")
    return count(run.stdout + run.stderr, local_rules())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configfile", required=True)
    parser.add_argument("--profile", default=str(ROOT / "profiles/slurm"))
    parser.add_argument("--forceall", action="store_true", help="count every job of the config, done or not")
    args = parser.parse_args()
    try:
        counts = submissions(args.configfile, args.profile, args.forceall)
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    for name, value in counts.items():
        print(f"{name:16s} {value:6d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
