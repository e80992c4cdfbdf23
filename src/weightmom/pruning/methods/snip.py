"""SNIP (Lee et al., ICLR 2019, "SNIP: Single-shot network pruning based on connection
sensitivity"): the score of a weight is |g * w|, g the gradient of the training loss with
respect to that weight of the masked network, on seeded training batches; one selection
over all layers, as in the paper. Applied every round to the current masked network
(iterative SNIP), so pruned weights stay pruned and only survivors compete."""

import torch
import torch.nn.functional as F

from weightmom.models import prunable_parameters
from weightmom.pruning.base import Pruner
from weightmom.pruning.registry import register_pruner


@register_pruner("snip")
class Snip(Pruner):
    allocation = "global"

    def scores(self, context):
        batches = list(context.batches(int(self.options["batches"])))
        model = context.model.train()  # a private copy: its batch-norm statistics may move
        weights = prunable_parameters(model)
        model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            for inputs, labels in batches:
                (F.cross_entropy(model(inputs), labels) / len(batches)).backward()
        return {name: (weight.grad * weight).abs().detach().float().cpu() for name, weight in weights.items()}
