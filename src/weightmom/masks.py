"""Binary masks over the prunable weights, enforced in place after each optimizer step.

No forward pre-hooks: a pruned weight is set to exactly zero, together with its optimizer
momentum buffer, after every step, with one fused multiply per tensor list. Between steps
the model is a plain dense model, so the forward and backward passes pay nothing.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

Masks = dict[str, torch.Tensor]


def full_masks(parameters: Mapping[str, torch.Tensor]) -> Masks:
    return {name: torch.ones_like(param, dtype=torch.bool) for name, param in parameters.items()}


def count_kept(masks: Mapping[str, torch.Tensor]) -> int:
    return int(sum(int(mask.sum()) for mask in masks.values()))


def count_total(masks: Mapping[str, torch.Tensor]) -> int:
    return int(sum(mask.numel() for mask in masks.values()))


class MaskEnforcer:
    """Zeroes pruned weights and their momentum buffers after each optimizer step."""

    def __init__(self, parameters: Mapping[str, nn.Parameter], masks: Mapping[str, torch.Tensor]) -> None:
        missing = sorted(set(parameters) ^ set(masks))
        if missing:
            raise ValueError(f"masks and prunable parameters differ on {missing}")
        self.params = [parameters[name] for name in masks]
        self.multipliers = [masks[name].to(device=p.device, dtype=p.dtype) for name, p in zip(masks, self.params)]

    @torch.no_grad()
    def apply(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        torch._foreach_mul_(self.params, self.multipliers)
        if optimizer is None:
            return
        buffers, multipliers = [], []
        for param, multiplier in zip(self.params, self.multipliers):
            buffer = optimizer.state.get(param, {}).get("momentum_buffer")
            if buffer is not None:
                buffers.append(buffer)
                multipliers.append(multiplier)
        if buffers:
            torch._foreach_mul_(buffers, multipliers)
