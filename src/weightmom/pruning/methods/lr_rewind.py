"""Learning-rate rewinding (Renda et al. 2020): prune by magnitude, keep the trained
weights, and fine-tune with the dense run's learning rates of its last E epochs
(E = the round's fine-tuning epochs; the whole dense schedule, stretched, if E is longer)."""

from weightmom.pruning import scores
from weightmom.pruning.base import Pruner
from weightmom.pruning.registry import register_pruner
from weightmom.training.loop import stretched_schedule


@register_pruner("lr_rewind")
class LearningRateRewinding(Pruner):
    def __init__(self, options):
        super().__init__(options)
        self.allocation = self.options["allocation"]

    def scores(self, context):
        return scores.magnitude(context.params)

    def learning_rate(self, dense, finetune):
        return stretched_schedule(dense, max(dense.epochs - finetune.epochs, 0), finetune.epochs)
