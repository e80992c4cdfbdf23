"""Global magnitude pruning: one |w| ranking over all layers."""

from weightmom.pruning import scores
from weightmom.pruning.base import Pruner
from weightmom.pruning.registry import register_pruner


@register_pruner("global_magnitude")
class GlobalMagnitude(Pruner):
    allocation = "global"

    def scores(self, context):
        return scores.magnitude(context.params)
