"""Pruning: schedules, layer allocations and the registered methods."""

from weightmom.pruning.pruners import Pruner, build_pruner, pruner_names, register_pruner
from weightmom.pruning.schedule import keep_counts

__all__ = ["Pruner", "build_pruner", "keep_counts", "pruner_names", "register_pruner"]
