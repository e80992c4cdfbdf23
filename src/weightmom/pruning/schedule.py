"""How many prunable weights survive after each round.

Round 0 is the dense network; round R reaches the target compression C, i.e. keeps
round(N / C) of the N prunable weights (exact to one weight).
    geometric: keep_r = N * C^(-r/R)    (each round keeps the same fraction of survivors)
    linear:    keep_r = N * (1 - s_final * r / R),  s_final = 1 - 1/C
    cubic:     keep_r = N * (1 - s_final * (1 - (1 - r/R)^3))   (Zhu & Gupta 2017)

A sweep goes on past the target, so that one run measures accuracy at the target (round R)
and along the curve beyond it (compression at equal degradation): S more rounds, each
keeping the same fraction of survivors, end at the sweep's compression M,
    keep_(R+s) = N / C * (M / C)^(-s/S),   s = 1..S,
whatever the schedule that reached C.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from weightmom.errors import SpecError

SCHEDULES = ("geometric", "linear", "cubic")


def keep_counts(
    total: int,
    target_compression: float,
    rounds: int,
    schedule: str,
    sweep: Mapping[str, Any] | None = None,
) -> list[int]:
    """Surviving prunable weights after rounds 0..R (a list of R + 1 counts), then the
    `sweep`'s rounds R+1..R+S ({max_compression: M, rounds: S}) when there is one."""
    if target_compression <= 1:
        raise SpecError(f"target_compression must be > 1, got {target_compression}")
    if rounds < 1:
        raise SpecError(f"rounds must be >= 1, got {rounds}")
    if schedule not in SCHEDULES:
        raise SpecError(f"unknown schedule {schedule!r}; known: {list(SCHEDULES)}")
    final_sparsity = 1.0 - 1.0 / target_compression
    counts = []
    for r in range(rounds + 1):
        if schedule == "geometric":
            fraction = target_compression ** (-r / rounds)
        elif schedule == "linear":
            fraction = 1.0 - final_sparsity * r / rounds
        else:
            fraction = 1.0 - final_sparsity * (1.0 - (1.0 - r / rounds) ** 3)
        counts.append(max(1, round(total * fraction)))
    counts[0] = total
    if sweep:
        end, extra = sweep["max_compression"], sweep["rounds"]
        if end <= target_compression or extra < 1:
            raise SpecError(
                f"sweep must end past the target compression {target_compression:g} in at least one round,"
                f" got max_compression {end:g} in {extra} rounds"
            )
        ratio = end / target_compression
        counts += [max(1, round(total / target_compression * ratio ** (-s / extra))) for s in range(1, extra + 1)]
    return counts
