"""Whether Snakemake was started as a dry run, from its command line: Snakemake decides it
after reading the Snakefile and calls no hook in a dry run, so a workflow that wants to say
something under -n can only tell from the arguments (plain Python, tested in-process)."""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Snakemake's single-letter flags that take no value, which may stand together with -n
#: in one argument (-np, -pn, -nF).
_BARE_FLAGS = "nprqFkf"


def is_dry_run(argv: Sequence[str]) -> bool:
    for argument in argv[1:]:
        if argument == "--":
            return False
        if argument in ("--dry-run", "--dryrun"):
            return True
        if re.fullmatch(rf"-[{_BARE_FLAGS}]+", argument) and "n" in argument:
            return True
    return False
