"""Pruning: schedules, layer allocations, and the registered methods (built in, then those
of installed packages' entry points). May import training (a method that fine-tunes or
rewinds uses its loop), models, data, evaluation, provenance and the foundation modules;
never export, runtime, reporting or steps."""

from weightmom.pruning import methods  # noqa: F401  (registers the built-in methods)
from weightmom.pruning.base import Pruner
from weightmom.pruning.context import ScoringContext, TrainingBatches
from weightmom.pruning.registry import (
    build_pruner,
    options_schema,
    pruner_names,
    register_entry_points,
    register_pruner,
    with_defaults,
)
from weightmom.pruning.schedule import keep_counts

register_entry_points()

__all__ = [
    "Pruner",
    "ScoringContext",
    "TrainingBatches",
    "build_pruner",
    "keep_counts",
    "options_schema",
    "pruner_names",
    "register_entry_points",
    "register_pruner",
    "with_defaults",
]
