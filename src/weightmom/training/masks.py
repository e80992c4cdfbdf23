"""Binary masks over the prunable weights, enforced in place after each optimizer step.

No forward pre-hooks: a pruned weight is set to exactly zero, together with its optimizer
momentum buffer, after every step, with one fused multiply per tensor list. Between steps
the model is a plain dense model, so the forward and backward passes pay nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

Masks = dict[str, torch.Tensor]


def full_masks(parameters: Mapping[str, torch.Tensor]) -> Masks:
    return {name: torch.ones_like(param, dtype=torch.bool) for name, param in parameters.items()}


def count_kept(masks: Mapping[str, torch.Tensor]) -> int:
    return int(sum(int(mask.sum()) for mask in masks.values()))


def count_total(masks: Mapping[str, torch.Tensor]) -> int:
    return int(sum(mask.numel() for mask in masks.values()))


def collapsed_layers(masks: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """The layers that keep no weight, each with its size. Nothing passes through such a
    layer (its output is its bias alone, whatever the input), so the network's prediction
    no longer depends on the image: the prune step warns, the metric row counts them."""
    return {name: mask.numel() for name, mask in masks.items() if not bool(mask.any())}


class MaskEnforcer:
    """Zeroes pruned weights and their momentum buffers after each optimizer step."""

    def __init__(self, parameters: Mapping[str, nn.Parameter], masks: Mapping[str, torch.Tensor]) -> None:
        missing = sorted(set(parameters) ^ set(masks))
        if missing:
            raise ValueError(f"masks and prunable parameters differ on {missing}")
        self.params = [parameters[name] for name in masks]
        self.multipliers = [masks[name].to(device=p.device, dtype=p.dtype) for name, p in zip(masks, self.params)]
        self._with_buffers: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None

    @torch.no_grad()
    def apply(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        if optimizer is not None and self._with_buffers is None:
            self._with_buffers = self._collect_buffers(optimizer)
        if optimizer is None or self._with_buffers is None:
            torch._foreach_mul_(self.params, self.multipliers)
        else:
            torch._foreach_mul_(*self._with_buffers)

    def _collect_buffers(
        self, optimizer: torch.optim.Optimizer
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]] | None:
        """Weights and momentum buffers in one list, so one fused call masks both.

        SGD creates a buffer at its first step and updates it in place from then on, so
        the list is built once; before any buffer exists only the weights are masked.
        """
        tensors, multipliers = list(self.params), list(self.multipliers)
        for param, multiplier in zip(self.params, self.multipliers):
            buffer = optimizer.state.get(param, {}).get("momentum_buffer")
            if buffer is None:
                return None
            tensors.append(buffer)
            multipliers.append(multiplier)
        return tensors, multipliers
