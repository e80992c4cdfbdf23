"""Pruning methods: a score per weight plus a layer allocation, behind one interface.

A method is registered by name with the settings it fixes and the options a config may
set. Every option must be given (the config schema supplies the defaults), so no default
hides in code.

    weightmom         momentum score m <- beta*m + (1-beta)*|w|, relative allocation
    magnitude         |w|, uniform allocation (layerwise, Han et al. 2015)
    global_magnitude  |w|, one global ranking
    random            uniformly random scores, uniform allocation
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import torch

from weightmom.errors import SpecError
from weightmom.pruning.allocation import ALLOCATIONS, allocate

SCORES = ("magnitude", "momentum", "random")
GRANULARITIES = ("round", "epoch", "step")


@dataclass(frozen=True)
class Pruner:
    score: str
    allocation: str
    min_density: float
    beta: float
    granularity: str

    def __post_init__(self) -> None:
        _check_choice("score", self.score, SCORES)
        _check_choice("allocation", self.allocation, ALLOCATIONS)
        _check_choice("granularity", self.granularity, GRANULARITIES)
        if not 0.0 <= self.beta < 1.0:
            raise SpecError(f"beta must be in [0, 1), got {self.beta}")
        if not 0.0 <= self.min_density < 1.0:
            raise SpecError(f"min_density must be in [0, 1), got {self.min_density}")

    @property
    def uses_momentum(self) -> bool:
        return self.score == "momentum"

    def init_state(self, params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Momentum scores start at |w| of the dense model."""
        if not self.uses_momentum:
            return {}
        return {name: p.detach().abs().clone() for name, p in params.items()}

    @torch.no_grad()
    def observe(self, params: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> None:
        """One momentum update, m <- beta*m + (1-beta)*|w| (called at `granularity`)."""
        if not self.uses_momentum:
            return
        names = list(state)
        momenta = [state[n] for n in names]
        torch._foreach_mul_(momenta, self.beta)
        torch._foreach_add_(momenta, torch._foreach_abs([params[n].detach() for n in names]), alpha=1.0 - self.beta)

    def scores(
        self, params: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], generator: torch.Generator
    ) -> dict[str, torch.Tensor]:
        if self.score == "momentum":
            return {name: state[name].detach().float().cpu() for name in params}
        if self.score == "magnitude":
            return {name: p.detach().abs().float().cpu() for name, p in params.items()}
        return {name: torch.rand(p.shape, generator=generator) for name, p in params.items()}

    @torch.no_grad()
    def prune(
        self,
        params: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor],
        state: Mapping[str, torch.Tensor],
        keep_total: int,
        generator: torch.Generator,
    ) -> dict[str, torch.Tensor]:
        """New masks keeping `keep_total` weights; a pruned weight never comes back."""
        names = list(masks)
        scores = self.scores({n: params[n] for n in names}, state, generator)
        old = [masks[n].cpu() for n in names]
        keep = allocate(self.allocation, [scores[n] for n in names], old, keep_total, self.min_density)
        return {name: _keep_top(scores[name], mask, k).to(masks[name].device) for name, mask, k in zip(names, old, keep)}


def _keep_top(score: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
    survivors = torch.where(mask, score, torch.tensor(float("-inf"))).flatten()
    new_mask = torch.zeros(score.numel(), dtype=torch.bool)
    if keep:
        new_mask[torch.topk(survivors, keep, sorted=False).indices] = True
    return new_mask.view_as(mask)


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SpecError(f"{key} {value!r} is not one of {list(choices)}")


@dataclass(frozen=True)
class _Method:
    fixed: dict[str, Any]
    options: frozenset[str]


_METHODS: dict[str, _Method] = {}


def register_pruner(name: str, fixed: dict[str, Any], options: set[str]) -> None:
    """Register a method: `fixed` Pruner fields, and the names a config sets for the rest."""
    if name in _METHODS:
        raise ValueError(f"pruner {name!r} registered twice")
    _METHODS[name] = _Method(dict(fixed), frozenset(options))


def pruner_names() -> list[str]:
    return sorted(_METHODS)


def build_pruner(name: str, options: Mapping[str, Any]) -> Pruner:
    if name not in _METHODS:
        raise SpecError(f"unknown pruner {name!r}; known pruners: {pruner_names()}")
    method = _METHODS[name]
    unknown = sorted(set(options) - method.options)
    missing = sorted(method.options - set(options))
    if unknown or missing:
        raise SpecError(f"pruner {name!r}: unknown options {unknown}, missing options {missing}")
    return Pruner(**method.fixed, **options)


_NO_MOMENTUM = {"beta": 0.0, "granularity": "round"}
register_pruner("weightmom", {}, {"score", "allocation", "min_density", "beta", "granularity"})
register_pruner("magnitude", {"score": "magnitude", "allocation": "uniform", **_NO_MOMENTUM}, {"min_density"})
register_pruner("global_magnitude", {"score": "magnitude", "allocation": "global", **_NO_MOMENTUM}, {"min_density"})
register_pruner("random", {"score": "random", "allocation": "uniform", **_NO_MOMENTUM}, {"min_density"})
