"""Weight scores shared by the methods."""

from __future__ import annotations

import torch

from weightmom.pruning.base import Tensors


def magnitude(params: Tensors) -> dict[str, torch.Tensor]:
    return {name: p.abs() for name, p in params.items()}


def uniform_random(params: Tensors, generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {name: torch.rand(p.shape, generator=generator) for name, p in params.items()}


def lamp(params: Tensors, masks: Tensors) -> dict[str, torch.Tensor]:
    """LAMP (Lee et al. 2021): w_u^2 / sum of w_v^2 over the layer's survivors v with
    |w_v| >= |w_u| (u included). Comparable across layers, so selection is global."""
    result = {}
    for name, weight in params.items():
        squares = torch.where(masks[name], weight, torch.zeros(())).flatten().double().pow(2)
        order = torch.argsort(squares, stable=True)
        ascending = squares[order]
        tail_sums = ascending.flip(0).cumsum(0).flip(0)
        score = torch.empty_like(squares)
        score[order] = ascending / tail_sums.clamp_min(torch.finfo(torch.float64).tiny)
        result[name] = score.view_as(weight)
    return result
