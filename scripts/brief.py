"""Snakemake's output, less what every finished job repeats: `make demo` pipes the run
through it so that a success reads in a few hundred lines.

Dropped: each job's start block (its time stamp, `rule <name>:` or `localrule <name>:` and
the indented input, output, log and wildcard lines under it, which for the `all` rule list
every target), and the scheduler's `Select jobs to execute...`, `Execute N jobs...` and
`Finished jobid: ...` lines. Kept: everything else, in order: the banner and job counts,
the workflow's own messages, Snakemake's `N of M steps (P%) done` progress, warnings, and
every error in full (`Error in rule ...` with its shell command and the failed job's log).
The whole output stays in .snakemake/log/ and each job's own log under logs/.

    snakemake --cores all --configfile config/demo.yaml 2>&1 | python scripts/brief.py
"""

from __future__ import annotations

import re
import signal
import sys
from collections.abc import Iterable, Iterator

PROGRESS = re.compile(r"^\d+ of \d+ steps \(\d+%\) done$")
JOB_HEADER = re.compile(r"^(local)?(rule|checkpoint) \w+:$")
SCHEDULER = re.compile(
    r"^(\[\w{3} \w{3} [ \d]\d [\d:]{8} \d{4}\]|Select jobs to execute\.\.\.|Execute \d+ jobs\.\.\.|Finished jobid: .*)$"
)


def brief(lines: Iterable[str]) -> Iterator[str]:
    """The lines to show (each with its line end), from Snakemake's output lines. Blank lines
    between jobs go too: one stays where the next line shown is not progress."""
    in_job_block = blank = False
    for line in lines:
        text = line.rstrip("\n")
        if in_job_block and text.startswith("    "):
            continue
        in_job_block = bool(JOB_HEADER.match(text))
        if in_job_block or SCHEDULER.match(text):
            continue
        if not text.strip():
            blank = True
            continue
        if blank and not PROGRESS.match(text):
            yield "\n"
        blank = False
        yield line if line.endswith("\n") else line + "\n"


def main() -> int:
    # Ctrl-C reaches Snakemake and this filter alike: keep passing Snakemake's shutdown
    # messages on until it closes the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in brief(sys.stdin):
        sys.stdout.write(line)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
