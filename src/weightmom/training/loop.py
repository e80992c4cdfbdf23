"""The training loop shared by dense training and per-round fine-tuning.

The whole split lives in memory as a uint8 tensor on the training device; each batch is
indexed, augmented and normalised as tensor operations (no per-image Python, no
DataLoader workers). Data order and augmentation of epoch e come from a generator seeded
by (seed, e), so an epoch is the same whether or not the job was restarted before it.

After every epoch the model is validated (the whole validation split, eval mode) and the
epoch's record (training loss, learning rate, validation top-1 and loss, seconds) joins the
run's curve. Then the full training state (model, optimizer, schedule, RNG, the curve so
far, and whatever the caller adds: masks, momentum scores) goes to a resume file; a
restarted job continues from the last finished epoch, ends with the same weights as an
uninterrupted run and has one curve record per epoch.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from weightmom.data.splits import Split
from weightmom.evaluation.accuracy import evaluate
from weightmom.provenance.integrity import digest_matches, save_with_digest
from weightmom.training.augment import augment_batch
from weightmom.training.masks import MaskEnforcer
from weightmom.training.recipe import Accelerator, Recipe

Callback = Callable[[], None]
EpochCallback = Callable[[int], None]
FinishCallback = Callable[[torch.optim.Optimizer], None]

#: what the curve records of every epoch (weightmom.evaluation.curves adds the run's identity)
CURVE_FIELDS = ("epoch", "train_loss", "lr", "val_top1", "val_loss", "seconds")


@dataclass(frozen=True)
class Trained:
    """What train() did. `seconds`: wall time, resumed epochs included. `curve`: one record
    per epoch (CURVE_FIELDS): epoch (1-based), mean training loss over the epoch's batches,
    the learning rate used during it, top-1 and loss on the validation split after it (NaN
    without one), and its wall time (its validation and resume save included, so the
    records' seconds add up to about `seconds`)."""

    seconds: float
    curve: list[dict[str, float]]


class EagerSGD(torch.optim.SGD):
    """torch.optim.SGD, the same steps and state, without importing torch._dynamo.

    torch 2.x wraps Optimizer.add_param_group, zero_grad, state_dict and load_state_dict in
    torch._disable_dynamo, and SGD.step in _use_grad_for_differentiable; each imports
    torch._dynamo on first call (0.8 s and more, with sympy and pandas), for torch.compile's
    sake. The optimizer is never compiled here (only the model's forward may be), so the
    wrapped functions (their __wrapped__) are called directly."""

    add_param_group = torch.optim.Optimizer.add_param_group.__wrapped__
    zero_grad = torch.optim.Optimizer.zero_grad.__wrapped__
    state_dict = torch.optim.Optimizer.state_dict.__wrapped__
    load_state_dict = torch.optim.Optimizer.load_state_dict.__wrapped__

    def step(self, closure=None):  # type: ignore[override]
        # what _use_grad_for_differentiable does, less its torch._dynamo.graph_break() calls
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return torch.optim.SGD.step.__wrapped__(self, closure)


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.SGD:
    """SGD with a base learning rate of 1: the scheduler sets the actual rate each epoch."""
    return EagerSGD(model.parameters(), lr=1.0, momentum=recipe.momentum, weight_decay=recipe.weight_decay)


def lr_factor(recipe: Recipe, epoch: int) -> float:
    """Multiplier of the base learning rate during `epoch` (0-based)."""
    if recipe.lr_schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * epoch / recipe.epochs))
    if recipe.lr_schedule == "step":
        passed = sum(epoch >= round(m * recipe.epochs) for m in recipe.lr_milestones)
        return recipe.lr_gamma**passed
    return 1.0


def recipe_schedule(recipe: Recipe) -> Callable[[float], float]:
    """Learning rate at a (possibly fractional) epoch of `recipe`."""
    return lambda epoch: recipe.lr * lr_factor(recipe, epoch)


def stretched_schedule(recipe: Recipe, start_epoch: int, epochs: int) -> Callable[[int], float]:
    """`recipe`'s learning rates from `start_epoch` to its end, spread over `epochs` epochs.

    With start_epoch = recipe.epochs - epochs this is exactly the recipe's last `epochs`
    epochs (learning-rate rewinding); a shorter span is stretched, a longer one sampled.
    """
    span = max(recipe.epochs - start_epoch, 0)
    rate = recipe_schedule(recipe)
    return lambda epoch: rate(start_epoch + span * epoch / epochs)


def momentum_buffers(optimizer: torch.optim.Optimizer, params: dict[str, nn.Parameter]) -> dict[str, torch.Tensor]:
    """The SGD momentum buffer of each named parameter (those that have one), on the CPU."""
    buffers = {}
    for name, param in params.items():
        buffer = optimizer.state.get(param, {}).get("momentum_buffer")
        if buffer is not None:
            buffers[name] = buffer.detach().cpu().clone()
    return buffers


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


@dataclass(frozen=True)
class ResumeState:
    """The training state after `epoch` finished epochs, as a resume file holds it:
    `seconds` of training so far, the model's, optimizer's and scheduler's state dicts,
    the CPU RNG state, one curve record per finished epoch, and `extra`, what the caller
    saves with each epoch (masks, pruner state, snapshots)."""

    epoch: int
    seconds: float
    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    rng: torch.Tensor
    curve: list[dict[str, float]]
    extra: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict, values as they are (dataclasses.asdict would deep-copy every tensor)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True)
class ResumeFile:
    """Per-epoch training state of one job; only a state with the same `key` is resumed."""

    path: Path
    key: str

    @cached_property
    def saved(self) -> ResumeState | None:
        """The state found when the job started (read once: the step takes its `extra`,
        train() the rest), or None, saying why on stderr, when there is none to resume."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:
            print(f"{self.path}: unreadable resume state ({exc}); starting over", file=sys.stderr)
            return None
        if not isinstance(state, dict) or state.get("key") != self.key:
            print(f"{self.path}: resume state of other settings; starting over", file=sys.stderr)
            return None
        if not digest_matches(state):
            print(f"{self.path}: corrupted resume state (digest mismatch); starting over", file=sys.stderr)
            return None
        if len(state.get("curve", ())) != state.get("epoch"):
            print(
                f"{self.path}: resume state without a curve record per epoch (an older version's); starting over",
                file=sys.stderr,
            )
            return None
        return ResumeState(**{field.name: state[field.name] for field in fields(ResumeState)})

    def save(self, state: ResumeState) -> None:
        save_with_digest({"key": self.key, **state.as_dict()}, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def train(
    model: nn.Module,
    data: Split,
    recipe: Recipe,
    *,
    seed: int,
    validation: Split | None = None,
    accelerator: Accelerator = Accelerator(),
    enforcer: MaskEnforcer | None = None,
    on_step: Callback | None = None,
    on_epoch: EpochCallback | None = None,
    learning_rate: Callable[[int], float] | None = None,
    resume: ResumeFile | None = None,
    extra_state: Callable[[], dict[str, Any]] | None = None,
    on_finish: FinishCallback | None = None,
    description: str = "train",
) -> Trained:
    """Train `model` in place on `data` (already on the model's device).

    `validation` (on the same device) is evaluated after every epoch, in eval mode, for the
    curve. `learning_rate(epoch)` replaces the recipe's schedule when given. `on_epoch` gets
    the number of finished epochs. With `resume`, training continues from the state saved
    there, if any, and saves its state there after every epoch; `extra_state` returns what
    the caller wants saved with it; `on_finish` sees the
    optimizer after the last epoch. Returns the seconds and the per-epoch curve, resumed
    epochs included.
    """
    device = data.labels.device
    on_gpu = device.type == "cuda"
    channels_last = accelerator.channels_last
    if channels_last:
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if on_gpu and accelerator.compile else model
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if on_gpu and accelerator.bf16_autocast
        else contextlib.nullcontext()
    )
    optimizer = make_optimizer(model, recipe)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate or recipe_schedule(recipe))
    first_epoch, seconds_before, curve = 0, 0.0, []
    saved = resume.saved if resume is not None else None
    if saved is not None:
        model.load_state_dict(saved.model)
        optimizer.load_state_dict(saved.optimizer)
        scheduler.load_state_dict(saved.scheduler)
        torch.set_rng_state(saved.rng)
        first_epoch, seconds_before = saved.epoch, saved.seconds
        curve = [dict(record) for record in saved.curve]
    epoch_began = seconds_before
    count = data.labels.shape[0]
    start = time.perf_counter()
    model.train()
    if enforcer is not None:
        enforcer.apply()
    progress = tqdm(
        range(first_epoch, recipe.epochs),
        desc=description,
        unit="epoch",
        file=sys.stderr,
        mininterval=1.0,
        initial=first_epoch,
        total=recipe.epochs,
    )
    for epoch in progress:
        rate = float(optimizer.param_groups[0]["lr"])  # what the scheduler set for this epoch
        generator = epoch_generator(seed, epoch)
        order = torch.randperm(count, generator=generator).to(device)
        total_loss = torch.zeros((), device=device)
        for begin in range(0, count, recipe.batch_size):
            index = order[begin : begin + recipe.batch_size]
            images = augment_batch(data.images[index], recipe.augment, generator)
            inputs = data.normalise(images)
            if channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            with autocast:
                loss = F.cross_entropy(forward(inputs), data.labels[index])
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
            on_epoch(epoch + 1)
        if validation is not None:
            checked = evaluate(model, validation)  # eval mode; masks are enforced already
            model.train()
        elapsed = seconds_before + time.perf_counter() - start
        curve.append(
            {
                "epoch": epoch + 1,
                "train_loss": float(total_loss) / count,
                "lr": rate,
                "val_top1": checked.top1 if validation is not None else math.nan,
                "val_loss": checked.loss if validation is not None else math.nan,
                "seconds": elapsed - epoch_began,
            }
        )
        epoch_began = elapsed
        if resume is not None:
            resume.save(
                ResumeState(
                    epoch=epoch + 1,
                    seconds=elapsed,
                    model=model.state_dict(),
                    optimizer=optimizer.state_dict(),
                    scheduler=scheduler.state_dict(),
                    rng=torch.get_rng_state(),
                    curve=curve,
                    extra=extra_state() if extra_state is not None else {},
                )
            )
        shown = {"loss": f"{curve[-1]['train_loss']:.4f}", "lr": f"{rate:.4g}"}
        if validation is not None:
            shown["val_top1"] = f"{curve[-1]['val_top1']:.4f}"
        progress.set_postfix(shown)
    if on_finish is not None:
        on_finish(optimizer)
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return Trained(seconds_before + time.perf_counter() - start, curve)
