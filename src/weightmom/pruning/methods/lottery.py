"""Lottery ticket with weight rewinding (Frankle et al. 2020): prune by magnitude, rewind
the survivors to their values at an early epoch k of the dense run, and retrain with the
dense learning-rate schedule from epoch k on, stretched over the round's fine-tuning
epochs (the same budget as every other method)."""

from weightmom.errors import CheckpointError
from weightmom.pruning import scores
from weightmom.pruning.base import Pruner
from weightmom.pruning.registry import register_pruner
from weightmom.training.loop import stretched_schedule


@register_pruner("lottery")
class LotteryTicket(Pruner):
    def __init__(self, options):
        super().__init__(options)
        self.allocation = self.options["allocation"]
        self.rewind_epoch = int(self.options["rewind_epoch"])

    def scores(self, context):
        return scores.magnitude(context.params)

    def snapshot_epochs(self):
        return {self.rewind_epoch}

    def rewind(self, model, snapshots):
        if self.rewind_epoch not in snapshots:
            raise CheckpointError(
                f"the dense checkpoint kept no weights of epoch {self.rewind_epoch} (it has {sorted(snapshots)}); "
                "rerun dense training with this method in the config"
            )
        model.load_state_dict(snapshots[self.rewind_epoch])

    def learning_rate(self, dense, finetune):
        return stretched_schedule(dense, self.rewind_epoch, finetune.epochs)
