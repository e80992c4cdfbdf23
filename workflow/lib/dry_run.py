"""Whether Snakemake was started as a dry run, from its command line: Snakemake decides it
after reading the Snakefile and calls no hook in a dry run, so a workflow that wants to say
something under -n can only tell from the arguments (plain Python, tested in-process)."""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Snakemake's single-letter flags that take no value: they may stand together with -n in
#: one argument (-np, -pn, -nF); any other letter takes a value, the rest of the argument
#: or the next one (-nc1, -nj 4, -c n).
_BARE_FLAGS = set("nprqFkf")


def _short_flags_hold(argument: str, letter: str) -> bool:
    for flag in argument[1:]:
        if flag == letter:
            return True
        if flag not in _BARE_FLAGS:
            return False  # the rest of the argument is that flag's value
    return False


def has_flag(argv: Sequence[str], letter: str, names: Sequence[str]) -> bool:
    """Whether Snakemake's command line `argv` sets the bare flag -`letter` (alone or among
    other bare ones) or one of its long `names`."""
    takes_value = False
    for argument in argv[1:]:
        if argument == "--":
            return False
        if takes_value:
            takes_value = False
            continue
        if argument in names:
            return True
        if re.fullmatch(r"-[A-Za-z][A-Za-z0-9]*", argument):
            if _short_flags_hold(argument, letter):
                return True
            last = argument[-1]
            takes_value = last.isalpha() and last not in _BARE_FLAGS and len(argument) == 2
    return False


def is_dry_run(argv: Sequence[str]) -> bool:
    return has_flag(argv, "n", ("--dry-run", "--dryrun"))


def forces_all(argv: Sequence[str]) -> bool:
    """--forceall / -F: every job of the plan runs again, done or not."""
    return has_flag(argv, "F", ("--forceall",))
