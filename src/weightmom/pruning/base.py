"""The interface every pruning method implements.

A method scores the surviving weights from a ScoringContext (the weights, masks and its
own state; the network, seeded training batches and optimizer momentum for the
data-dependent methods), and the shared machinery turns scores into masks:
a layer allocation decides how many weights each layer keeps, then each layer keeps its
highest-scoring survivors. A method may also keep state across rounds (momentum scores),
rewind weights before fine-tuning (lottery tickets) or set the fine-tuning learning rate
(learning-rate rewinding). The defaults make a plain one-shot-per-round method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from weightmom.pruning.allocation import allocate
from weightmom.pruning.context import ScoringContext, Tensors


class Pruner:
    name: ClassVar[str] = ""
    #: how a round's removal budget is split across layers (see allocation.py)
    allocation: str = "uniform"
    #: None follows the config's pruning.schedule; a method may impose its own
    schedule: str | None = None
    #: when `observe` runs during fine-tuning: "round" (before pruning), "epoch" or "step"
    granularity: str = "round"
    #: alpha of the score_budget and global_scaled allocations
    density_exponent: float = 0.0

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        self.min_density = float(self.options.get("min_density", 0.0))

    def scores(self, context: ScoringContext) -> dict[str, torch.Tensor]:
        """Importance of every weight (higher is kept, CPU tensors shaped as the weights);
        only survivors are compared. `context` holds the weights, masks and state, and for
        data-dependent scores the network and training batches (see ScoringContext)."""
        raise NotImplementedError

    def init_state(self, params: Tensors) -> dict[str, torch.Tensor]:
        """State carried from round to round in the checkpoint (empty for most methods)."""
        return {}

    def observe(self, params: Tensors, state: Mapping[str, torch.Tensor]) -> None:
        """Update the state from the current weights (called at `granularity`)."""

    def layer_statistic(self, scores: Tensors, momentum: Tensors) -> dict[str, torch.Tensor] | None:
        """Per-weight values whose survivor means weigh layers in score_budget (None: the
        scores). `momentum` holds the SGD momentum buffers the previous training ended with."""
        return None

    def snapshot_epochs(self) -> set[int]:
        """Epochs of dense training whose weights this method needs kept."""
        return set()

    def rewind(self, model: nn.Module, snapshots: Mapping[int, Tensors]) -> None:
        """Change the weights after pruning, before fine-tuning (default: keep them)."""

    def learning_rate(self, dense: Any, finetune: Any) -> Callable[[int], float] | None:
        """Learning rate per fine-tuning epoch, or None for the fine-tuning recipe's own."""
        return None

    @torch.no_grad()
    def prune(self, context: ScoringContext, keep_total: int) -> dict[str, torch.Tensor]:
        """New masks keeping `keep_total` weights; a pruned weight never comes back."""
        cpu = context.on_cpu()
        names = list(cpu.masks)
        scores = self.scores(cpu)
        statistic = self.layer_statistic(scores, cpu.momentum)
        keep = allocate(
            self.allocation,
            [scores[n] for n in names],
            [cpu.masks[n] for n in names],
            keep_total,
            self.min_density,
            exponent=self.density_exponent,
            statistic=None if statistic is None else [statistic[n] for n in names],
        )
        return {n: keep_top(scores[n], cpu.masks[n], k).to(context.masks[n].device) for n, k in zip(names, keep)}


def keep_top(score: torch.Tensor, mask: torch.Tensor, keep: int) -> torch.Tensor:
    """The `keep` highest-scoring survivors of one layer."""
    survivors = torch.where(mask, score, torch.tensor(float("-inf"))).flatten()
    new_mask = torch.zeros(score.numel(), dtype=torch.bool)
    if keep:
        new_mask[torch.topk(survivors, keep, sorted=False).indices] = True
    return new_mask.view_as(mask)
