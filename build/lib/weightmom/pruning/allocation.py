"""How a round's removal budget is split across layers.

Every allocation returns integer keep counts that sum exactly to the round's target, never
exceed a layer's current survivors (pruned weights do not return) and never push a layer
below its floor ceil(min_density * n_l) (a layer already below it loses nothing).

    uniform   each layer loses in proportion to its survivors k_l: from a dense start
              every layer has the same density (layerwise magnitude pruning).
    relative  WeightMom: removal in proportion to (d_l / D) * k_l, d_l = k_l / n_l the
              layer's density and D the global density, so a layer that is already
              sparser than the network loses less.
    global    one ranking of the scores over all layers (global magnitude pruning).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from weightmom.errors import SpecError

ALLOCATIONS = ("uniform", "relative", "global")


def floors(sizes: Sequence[int], kept: Sequence[int], min_density: float) -> list[int]:
    return [min(k, math.ceil(min_density * n)) for n, k in zip(sizes, kept)]


def proportional_removal(budget: int, weights: Sequence[float], capacity: Sequence[int]) -> list[int]:
    """Split an integer `budget` in proportion to `weights`, capped by `capacity`.

    Water-filling: a layer whose share exceeds its capacity gives exactly its capacity and
    the rest is re-split among the others; fractions are then rounded by largest remainder
    (ties to the lower index), so the result sums to `budget` exactly.
    """
    if budget > sum(capacity):
        raise SpecError(
            f"cannot remove {budget} weights: the floors leave only {sum(capacity)} removable"
        )
    shares = [0.0] * len(weights)
    active = [i for i, c in enumerate(capacity) if c > 0 and weights[i] > 0]
    remaining = float(budget)
    while active and remaining > 0:
        total_weight = sum(weights[i] for i in active)
        saturated = [i for i in active if remaining * weights[i] / total_weight >= capacity[i]]
        if not saturated:
            for i in active:
                shares[i] = remaining * weights[i] / total_weight
            break
        for i in saturated:
            shares[i] = float(capacity[i])
            remaining -= capacity[i]
        active = [i for i in active if i not in saturated]
    removal = [min(int(math.floor(s)), c) for s, c in zip(shares, capacity)]
    deficit = budget - sum(removal)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - removal[i]), i))
    for i in order:
        if deficit == 0:
            break
        if removal[i] < capacity[i]:
            removal[i] += 1
            deficit -= 1
    if deficit:
        raise SpecError(f"cannot remove {budget} weights with the given capacities")
    return removal


def allocate(
    allocation: str,
    scores: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    keep_total: int,
    min_density: float,
) -> list[int]:
    """Per-layer keep counts for this round (same order as `masks`)."""
    sizes = [m.numel() for m in masks]
    kept = [int(m.sum()) for m in masks]
    if keep_total > sum(kept):
        raise SpecError(f"target keeps {keep_total} weights but only {sum(kept)} survive")
    floor = floors(sizes, kept, min_density)
    if keep_total < sum(floor):
        raise SpecError(
            f"cannot prune to {keep_total} weights: min_density {min_density} keeps at least {sum(floor)}; "
            "lower min_density or the target compression"
        )
    capacity = [k - f for k, f in zip(kept, floor)]
    budget = sum(kept) - keep_total
    if allocation == "uniform":
        weights = [float(k) for k in kept]
    elif allocation == "relative":
        global_density = sum(kept) / sum(sizes)
        weights = [(k / n) / global_density * k for n, k in zip(sizes, kept)]
    elif allocation == "global":
        return _global_keep(scores, masks, keep_total, floor)
    else:
        raise SpecError(f"unknown allocation {allocation!r}; known: {list(ALLOCATIONS)}")
    removal = proportional_removal(budget, weights, capacity)
    return [k - r for k, r in zip(kept, removal)]


def _global_keep(
    scores: Sequence[torch.Tensor], masks: Sequence[torch.Tensor], keep_total: int, floor: Sequence[int]
) -> list[int]:
    """Keep the `keep_total` best surviving scores network-wide; layers that would fall
    below their floor are held at it and the rest is ranked again without them."""
    pinned: dict[int, int] = {}
    while True:
        free = [i for i in range(len(masks)) if i not in pinned]
        free_keep = keep_total - sum(pinned.values())
        survivors = [scores[i][masks[i]].flatten() for i in free]
        flat = torch.cat(survivors) if survivors else torch.empty(0)
        if free_keep > flat.numel():
            raise SpecError(f"cannot keep {keep_total} weights within the floors")
        chosen = torch.zeros(flat.numel(), dtype=torch.bool)
        if free_keep:
            chosen[torch.topk(flat, free_keep, sorted=False).indices] = True
        counts = [int(c.sum()) for c in torch.split(chosen, [s.numel() for s in survivors])]
        below = {i: floor[i] for i, c in zip(free, counts) if c < floor[i]}
        if not below:
            keep = dict(pinned)
            keep.update(zip(free, counts))
            return [keep[i] for i in range(len(masks))]
        pinned.update(below)
