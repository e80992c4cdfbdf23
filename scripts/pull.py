"""Fetch one experiment's results from the DVC remote and hand them to Snakemake as up to date.

    python scripts/pull.py demo          # what `make pull EXPERIMENT=demo` runs

`dvc pull experiment@<name>` brings the experiment's outputs (dvc.yaml has one stage per
experiment). Pulled files get the modification times of the moment they were written, in
no particular order, which Snakemake would take for updates and rerun. `snakemake --touch
--forceall` on the experiment's config then touches every output in the DAG's order and
records every job's settings: without --forceall Snakemake records them only for the jobs
it touches, and a later change of a setting would rerun only some rounds (a download the
clone does not need stays absent; Snakemake warns that it did not touch it).

It refuses to mark anything up to date when the checked-out code or config is not what
made the pulled results (`dvc status` reports changed dependencies): touching would record
them as made by this code, and no edit may be silently ignored. Run `make repro` then.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml


def experiment_configs(dvc_file: Path = Path("dvc.yaml")) -> dict[str, str]:
    """Experiment name -> config file, from the `foreach` of dvc.yaml's experiment stage."""
    return dict(yaml.safe_load(dvc_file.read_text())["stages"]["experiment"]["foreach"])


def main(argv: list[str]) -> int:
    configs = experiment_configs()
    if len(argv) != 1 or argv[0] not in configs:
        print(f"usage: pull.py EXPERIMENT, one of: {', '.join(configs)} (dvc.yaml's experiment stage)", file=sys.stderr)
        return 2
    name = argv[0]
    bin_dir = Path(sys.executable).parent  # dvc and snakemake of this environment
    stage = f"experiment@{name}"
    if not _run([str(bin_dir / "dvc"), "pull", stage]):
        return 1
    status = subprocess.run([str(bin_dir / "dvc"), "status", stage, "--json"], capture_output=True, text=True)
    changed = json.loads(status.stdout or "{}") if status.returncode == 0 else {"dvc status": status.stderr.strip()}
    if changed:
        print(
            f"pull.py: the pulled results of {name} were not made by the code and config checked out here "
            f"({json.dumps(changed)}); they are left as pulled, not marked up to date. Run `make repro "
            f"EXPERIMENT={name}` to bring them up to date, or check out the commit whose dvc.lock made them.",
            file=sys.stderr,
        )
        return 1
    return (
        0
        if _run([str(bin_dir / "snakemake"), "--touch", "--forceall", "--cores", "1", "--configfile", configs[name]])
        else 1
    )


def _run(command: list[str]) -> bool:
    if subprocess.run(command).returncode != 0:
        print(f"pull.py: `{' '.join(command)}` failed (see above)", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
