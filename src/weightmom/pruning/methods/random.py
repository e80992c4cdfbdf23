"""Random pruning: uniformly random scores (seeded by seed and round), every layer to the same sparsity."""

from weightmom.pruning import scores
from weightmom.pruning.base import Pruner
from weightmom.pruning.registry import register_pruner


@register_pruner("random")
class Random(Pruner):
    allocation = "uniform"

    def scores(self, context):
        return scores.uniform_random(context.params, context.generator)
