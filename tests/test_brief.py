"""scripts/brief.py, what `make demo` pipes Snakemake through: finished jobs' blocks go,
progress, the workflow's messages and every error stay in full."""

from __future__ import annotations

import sys

from helpers import REPO

sys.path.insert(0, str(REPO / "scripts"))
from brief import brief  # noqa: E402

RUN = """\
Building DAG of jobs...
Job stats:
job            count
-----------  -------
train_dense        1
all                1
total              2

This run trains 1 job(s), 3 epochs; at the speed measured just now on this CPU, about 0 s.
Select jobs to execute...
Execute 1 jobs...

[Fri Dec  4 20:22:40 2026]
localrule train_dense:
    input: results/demo/data/digits/train.npz
    output: results/demo/runs/digits/mlp/seed0/dense/checkpoint.pt
    wildcards: dataset=digits, model=mlp, seed=0
    resources: tmpdir=/tmp, gpu=0
[Fri Dec  4 20:22:41 2026]
Finished jobid: 1 (Rule: train_dense)
1 of 2 steps (50%) done
Select jobs to execute...

[Fri Dec  4 20:22:41 2026]
localrule all:
    input: a, b, c, d
    jobid: 0
[Fri Dec  4 20:22:42 2026]
Finished jobid: 0 (Rule: all)
2 of 2 steps (100%) done
Done. Experiment 'demo': everything is under results/demo/
  tables    results/demo/tables/<table>.md
"""

FAILURE = """\
[Fri Dec  4 20:22:40 2026]
rule train_dense:
    input: results/demo/data/digits/train.npz
    jobid: 3
RuleException:
CalledProcessError in file "workflow/rules/train.smk", line 30:
Command 'python -m weightmom train ...' returned non-zero exit status 2.
[Fri Dec  4 20:22:41 2026]
Error in rule train_dense:
    message: None
    jobid: 3
    log: logs/demo/train.log (check log file(s) for error details)
    shell:
        python -m weightmom train ...
        (command exited with non-zero exit code)
Logfile logs/demo/train.log:
================================================================================
weightmom train: error: results/demo/data/digits/train.npz: unreadable prepared split
================================================================================
Shutting down, this might take some time.
"""


def _brief(text: str) -> str:
    return "".join(brief(text.splitlines(keepends=True)))


def test_a_finished_run_keeps_its_counts_messages_and_progress_only():
    assert _brief(RUN) == (
        "Building DAG of jobs...\nJob stats:\njob            count\n-----------  -------\ntrain_dense        1\n"
        "all                1\ntotal              2\n\nThis run trains 1 job(s), 3 epochs; at the speed measured just "
        "now on this CPU, about 0 s.\n1 of 2 steps (50%) done\n2 of 2 steps (100%) done\n"
        "Done. Experiment 'demo': everything is under results/demo/\n  tables    results/demo/tables/<table>.md\n"
    )


def test_an_error_is_kept_in_full():
    shown = _brief(FAILURE)
    error = FAILURE[FAILURE.index("RuleException:") :]
    assert shown == error.replace("[Fri Dec  4 20:22:41 2026]\n", "")
