"""LAMP (Lee et al. 2021): layer-adaptive magnitude scores, one global selection."""

from weightmom.pruning import scores
from weightmom.pruning.base import Pruner
from weightmom.pruning.registry import register_pruner


@register_pruner("lamp")
class Lamp(Pruner):
    allocation = "global"

    def scores(self, context):
        return scores.lamp(context.params, context.masks)
