"""What a pruning method sees when it scores weights.

The simple methods read only the weights (`params`), the masks, their own state and a
seeded generator. Data-dependent methods (SNIP, Taylor scores) also get the network and
seeded batches of the training split, and methods that read the optimizer get the SGD
momentum buffers the previous training ended with.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

import torch
from torch import nn

from weightmom.data.splits import Split
from weightmom.errors import SpecError
from weightmom.models import prunable_parameters
from weightmom.training.loop import epoch_generator

Tensors = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class TrainingBatches:
    """Batches of the training split in a seeded order: the order of the first epoch of a
    training run seeded with `seed` (weightmom.training.loop's convention), without augmentation,
    so that the same seed gives the same batches."""

    split: Split
    batch_size: int
    seed: int

    def __call__(self, count: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The first `count` batches (fewer if the split ends first): normalised images and
        labels, on the split's device."""
        total = self.split.labels.shape[0]
        order = torch.randperm(total, generator=epoch_generator(self.seed, 0)).to(self.split.labels.device)
        for begin in range(0, min(count * self.batch_size, total), self.batch_size):
            index = order[begin : begin + self.batch_size]
            yield self.split.normalise(self.split.images[index]), self.split.labels[index]


@dataclass(frozen=True)
class ScoringContext:
    """A pruning round's inputs to `Pruner.scores`.

    params     the prunable weights (float32, CPU), by name
    masks      their current masks (True: survives); only survivors are compared
    state      the method's own state (e.g. momentum scores), by name
    generator  seeded by seed and round, for random choices
    momentum   the SGD momentum buffers the previous training ended with (empty without momentum)
    model      the network of the previous round, masks applied: a private copy (built on
               first use) that a method may run forward and backward freely
    batches(n) the first n batches of the training split at the fine-tuning batch size, in
               an order seeded by seed and round
    """

    params: Tensors
    masks: Tensors
    state: Tensors = field(default_factory=dict)
    generator: torch.Generator = field(default_factory=torch.Generator)
    momentum: Tensors = field(default_factory=dict)
    network: nn.Module | None = None
    training: TrainingBatches | None = None

    @cached_property
    def model(self) -> nn.Module:
        if self.network is None:
            raise SpecError("this pruning method scores with the network, but the pruning round gave it none")
        model = copy.deepcopy(self.network)
        with torch.no_grad():
            for name, weight in prunable_parameters(model).items():
                weight.mul_(self.masks[name].to(weight.device))
        return model

    def batches(self, count: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.training is None:
            raise SpecError("this pruning method scores on training data, but the pruning round gave it none")
        return self.training(count)

    def on_cpu(self) -> ScoringContext:
        """The same context with float32 CPU copies of the tensors the scores are compared on."""
        return replace(
            self,
            params={n: self.params[n].detach().float().cpu() for n in self.masks},
            masks={n: m.cpu() for n, m in self.masks.items()},
            state={n: s.detach().float().cpu() for n, s in self.state.items()},
            momentum={n: b.detach().float().cpu() for n, b in self.momentum.items()},
        )
