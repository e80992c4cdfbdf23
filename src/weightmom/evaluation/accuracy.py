"""Accuracy, loss and FLOPs of a (masked) network on a prepared split."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from weightmom.data.splits import Split
from weightmom.models import PRUNABLE_MODULES


@dataclass(frozen=True)
class Accuracy:
    top1: float
    top5: float
    loss: float


@torch.no_grad()
def evaluate(model: nn.Module, data: Split, batch_size: int = 1024) -> Accuracy:
    model.eval()
    count = data.labels.shape[0]
    k = min(5, data.num_classes)
    correct1 = correct5 = 0
    loss_sum = 0.0
    for begin in range(0, count, batch_size):
        labels = data.labels[begin : begin + batch_size]
        logits = model(data.normalise(data.images[begin : begin + batch_size])).float()
        loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
        top = logits.topk(k, dim=1).indices
        hits = top.eq(labels.view(-1, 1))
        correct1 += int(hits[:, 0].sum())
        correct5 += int(hits.any(dim=1).sum())
    return Accuracy(correct1 / count, correct5 / count, loss_sum / count)


@torch.no_grad()
def predicted_labels(model: nn.Module, data: Split, batch_size: int = 1024) -> torch.Tensor:
    """The top-1 class of every image of `data`, in its order, on the CPU: what a paired
    comparison of two networks on the same images needs."""
    model.eval()
    count = data.labels.shape[0]
    batches = [
        model(data.normalise(data.images[begin : begin + batch_size])).argmax(dim=1).cpu()
        for begin in range(0, count, batch_size)
    ]
    return torch.cat(batches) if batches else torch.zeros(0, dtype=torch.int64)


@torch.no_grad()
def layer_flops(model: nn.Module, input_shape: tuple[int, int, int], device: torch.device) -> dict[str, int]:
    """Multiply-accumulates per image of every conv and linear layer, keyed by weight name.

    FLOPs here follow the pruning literature's convention: one multiply-accumulate counts
    as one FLOP; a masked layer costs its dense FLOPs times its weight density.
    """
    macs: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        if not isinstance(module, PRUNABLE_MODULES):
            continue

        def hook(mod: nn.Module, inputs: tuple, output: torch.Tensor, key: str = f"{name}.weight") -> None:
            positions = output[0].numel() // mod.weight.shape[0]
            macs[key] = positions * mod.weight.numel()

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros((1, *input_shape), device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return macs
