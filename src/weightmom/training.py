"""The training loop shared by dense training and per-round fine-tuning.

The whole split lives in memory as a uint8 tensor on the training device; each batch is
indexed, converted and normalised as one tensor operation (no per-image Python, no
DataLoader workers). Data order comes from a generator seeded by the caller.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from weightmom.datasets import Split
from weightmom.masks import MaskEnforcer
from weightmom.recipe import Recipe

Callback = Callable[[], None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.SGD:
    return torch.optim.SGD(
        model.parameters(), lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: Recipe) -> torch.optim.lr_scheduler.LRScheduler:
    if recipe.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def train(
    model: nn.Module,
    data: Split,
    recipe: Recipe,
    *,
    seed: int,
    enforcer: MaskEnforcer | None = None,
    on_step: Callback | None = None,
    on_epoch: Callback | None = None,
    description: str = "train",
) -> float:
    """Train `model` in place on `data` (already on the model's device); returns seconds."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe)
    count = data.labels.shape[0]
    start = time.perf_counter()
    model.train()
    if enforcer is not None:
        enforcer.apply()
    progress = tqdm(range(recipe.epochs), desc=description, unit="epoch", file=sys.stderr, mininterval=1.0)
    for _ in progress:
        order = torch.randperm(count, generator=generator).to(data.labels.device)
        total_loss = torch.zeros((), device=data.labels.device)
        for begin in range(0, count, recipe.batch_size):
            index = order[begin : begin + recipe.batch_size]
            logits = model(data.normalise(data.images[index]))
            loss = F.cross_entropy(logits, data.labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if enforcer is not None:
                enforcer.apply(optimizer)
            if on_step is not None:
                on_step()
            total_loss += loss.detach() * index.numel()
        scheduler.step()
        if on_epoch is not None:
            on_epoch()
        progress.set_postfix(loss=f"{float(total_loss) / count:.4f}", lr=f"{scheduler.get_last_lr()[0]:.4g}")
    return time.perf_counter() - start
