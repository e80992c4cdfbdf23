"""Layerwise magnitude pruning (Han et al. 2015): |w|, every layer to the same sparsity."""

from weightmom.pruning import scores
from weightmom.pruning.base import Pruner
from weightmom.pruning.registry import register_pruner


@register_pruner("magnitude")
class Magnitude(Pruner):
    allocation = "uniform"

    def scores(self, context):
        return scores.magnitude(context.params)
