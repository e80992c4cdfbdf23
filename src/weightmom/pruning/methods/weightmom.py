"""WeightMom: a momentum of each weight's magnitude as its score, and a per-layer
importance from relative sparsity that sets how the round's budget is split (docs/method.md).
Every part is an option, for the readings and the ablations."""

import torch

from weightmom.errors import SpecError
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
        # the options schema sets these two (defaults per allocation) for the allocations that use them alone
        uses_exponent = self.allocation in ("score_budget", "global_scaled")
        self.density_exponent = float(self.options["density_exponent"]) if uses_exponent else 0.0
        self.statistic = self.options["statistic"] if self.allocation == "score_budget" else "score"

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

    def scores(self, context):
        return dict(context.state) if self.uses_momentum else scores.magnitude(context.params)

    def layer_statistic(self, scores, momentum):
        """score: the scores themselves; optimizer_momentum: |SGD momentum buffer|, the
        statistic sparse momentum redistributes by."""
        if self.statistic == "score":
            return None
        missing = sorted(set(scores) - set(momentum))
        if missing:
            raise SpecError(
                f"statistic optimizer_momentum needs the optimizer's momentum buffers, but the previous checkpoint "
                f"has none for {missing[:3]}; train with momentum > 0"
            )
        return {name: momentum[name].abs() for name in scores}
