"""How a round's removal budget is split across layers.

Every allocation returns integer keep counts that sum exactly to the round's target, never
exceed a layer's current survivors (pruned weights do not return) and never push a layer
below its floor ceil(min_density * n_l) (a layer already below it loses nothing).

    uniform        each layer loses in proportion to its survivors k_l: from a dense start
                   every layer has the same density (layerwise magnitude pruning).
    levelling      WeightMom v1: removal in proportion to rho_l * k_l, rho_l = d_l / D the
                   layer's density d_l = k_l / n_l over the global density D. Denser
                   layers lose more, so densities are pulled level: from a dense start it
                   is `uniform`.
    score_budget   the round's keep budget in proportion to k_l * s_l * rho_l^(-alpha),
                   s_l the mean statistic of the layer's survivors over the network's
                   (sparse momentum's layer statistic, Dettmers & Zettlemoyer 2019):
                   non-uniform from the first round.
    global         one ranking of the scores over all layers (global magnitude pruning).
    global_scaled  one ranking of score_i * rho_l^(-alpha) over all layers (Global Sparse
                   Momentum SGD, Ding et al. 2019, selects globally); alpha = 0 is `global`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from weightmom.errors import SpecError

ALLOCATIONS = ("uniform", "levelling", "score_budget", "global", "global_scaled")


def floors(sizes: Sequence[int], kept: Sequence[int], min_density: float) -> list[int]:
    return [min(k, math.ceil(min_density * n)) for n, k in zip(sizes, kept)]


def proportional_removal(budget: int, weights: Sequence[float], capacity: Sequence[int]) -> list[int]:
    """Split an integer `budget` in proportion to `weights`, capped by `capacity`.

    Water-filling: a layer whose share exceeds its capacity gives exactly its capacity and
    the rest is re-split among the others; fractions are then rounded by largest remainder
    (ties to the lower index), so the result sums to `budget` exactly.
    """
    if budget > sum(capacity):
        raise SpecError(f"cannot remove {budget} weights: the floors leave only {sum(capacity)} removable")
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


def bounded_proportional(total: int, weights: Sequence[float], lower: Sequence[int], upper: Sequence[int]) -> list[int]:
    """Integers x_l in [lower_l, upper_l] summing to `total`, as close as the bounds allow
    to x_l = c * weights_l: c is found by bisection on sum(clip(c * w_l, lower_l, upper_l)),
    which grows with c, then fractions are rounded by largest remainder (ties to the lower index)."""
    if not sum(lower) <= total <= sum(upper):
        raise SpecError(
            f"cannot keep {total} weights between the floors ({sum(lower)}) and the survivors ({sum(upper)})"
        )

    def filled(c: float) -> list[float]:
        return [min(max(c * w, lo), hi) for w, lo, hi in zip(weights, lower, upper)]

    low, high = 0.0, 1.0
    while sum(filled(high)) < total and high < 1e300:
        high *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if sum(filled(middle)) < total:
            low = middle
        else:
            high = middle
    shares = filled(high)
    counts = [int(math.floor(x)) for x in shares]
    deficit = total - sum(counts)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order:  # largest remainder
        if deficit and counts[i] < upper[i]:
            counts[i] += 1
            deficit -= 1
    for i in order:  # when the weighted layers are full, zero-weight ones hold the rest
        take = min(deficit, upper[i] - counts[i])
        counts[i] += take
        deficit -= take
    return counts


def relative_densities(sizes: Sequence[int], kept: Sequence[int]) -> list[float]:
    """rho_l = d_l / D: each layer's density over the network's."""
    global_density = sum(kept) / sum(sizes)
    return [(k / n) / global_density for n, k in zip(sizes, kept)]


def survivor_means(statistic: Sequence[torch.Tensor], masks: Sequence[torch.Tensor]) -> list[float]:
    """s_l: mean of the statistic over layer l's survivors, over its mean over all survivors."""
    network = torch.cat([t[m].flatten().double() for t, m in zip(statistic, masks)]).mean()
    if not network > 0:
        raise SpecError("the layer statistic is zero on every surviving weight; score_budget cannot tell layers apart")
    return [float(t[m].double().mean() / network) if m.any() else 0.0 for t, m in zip(statistic, masks)]


def allocate(
    allocation: str,
    scores: Sequence[torch.Tensor],
    masks: Sequence[torch.Tensor],
    keep_total: int,
    min_density: float,
    *,
    exponent: float = 0.0,
    statistic: Sequence[torch.Tensor] | None = None,
) -> list[int]:
    """Per-layer keep counts for this round (same order as `masks`).

    `exponent` is alpha of score_budget and global_scaled; `statistic` (per weight, default
    the scores) gives score_budget's layer means.
    """
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
    elif allocation == "levelling":
        weights = [rho * k for rho, k in zip(relative_densities(sizes, kept), kept)]
    elif allocation == "score_budget":
        means = survivor_means(statistic if statistic is not None else scores, masks)
        rho = relative_densities(sizes, kept)
        weights = [k * s * r ** (-exponent) if k else 0.0 for k, s, r in zip(kept, means, rho)]
        return bounded_proportional(keep_total, weights, floor, kept)
    elif allocation == "global":
        return _global_keep(scores, masks, keep_total, floor)
    elif allocation == "global_scaled":
        rho = relative_densities(sizes, kept)
        scaled = [score * r ** (-exponent) if r > 0 else score for score, r in zip(scores, rho)]
        return _global_keep(scaled, masks, keep_total, floor)
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
