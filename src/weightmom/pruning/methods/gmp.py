"""Gradual magnitude pruning (Zhu & Gupta 2017): layerwise |w| on the cubic schedule
s_r = s_f * (1 - (1 - r/R)^3), which prunes fast early and slowly near the target."""

from weightmom.pruning import scores
from weightmom.pruning.base import Pruner
from weightmom.pruning.registry import register_pruner


@register_pruner("gmp")
class GradualMagnitude(Pruner):
    allocation = "uniform"
    schedule = "cubic"

    def scores(self, context):
        return scores.magnitude(context.params)
