"""WeightMom: a momentum of each weight's magnitude as its score, and a layer allocation
from relative density (docs/method.md). Every part is an option, for the ablations."""

import torch

from weightmom.pruning import scores
from weightmom.pruning.base import Pruner
from weightmom.pruning.registry import register_pruner


@register_pruner("weightmom")
class WeightMom(Pruner):
    def __init__(self, options):
        super().__init__(options)
        self.allocation = self.options["allocation"]
        self.granularity = self.options["granularity"]
        self.beta = float(self.options["beta"])
        self.uses_momentum = self.options["score"] == "momentum"

    def init_state(self, params):
        """Momentum scores start at |w| of the dense model."""
        if not self.uses_momentum:
            return {}
        return {name: p.detach().abs().clone() for name, p in params.items()}

    @torch.no_grad()
    def observe(self, params, state):
        """m <- beta*m + (1-beta)*|w|, fused over all layers."""
        if not self.uses_momentum:
            return
        names = list(state)
        momenta = [state[n] for n in names]
        torch._foreach_mul_(momenta, self.beta)
        torch._foreach_add_(momenta, torch._foreach_abs([params[n].detach() for n in names]), alpha=1.0 - self.beta)

    def scores(self, params, masks, state, generator):
        return dict(state) if self.uses_momentum else scores.magnitude(params)
