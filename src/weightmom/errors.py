"""Errors a user can meet; the CLI prints their message (which names the culprit) and exits 2."""


class WeightMomError(Exception):
    """Base class: a problem with the user's input, not a bug in this package."""


class SpecError(WeightMomError):
    """A step was given settings it cannot use (unknown name, missing or wrong-typed key)."""


class DataError(WeightMomError):
    """A dataset file is missing, corrupt or not in the expected layout."""


class CheckpointError(WeightMomError):
    """A checkpoint is unreadable or does not belong to the model/data it is used with."""


class MetricsError(WeightMomError):
    """A metrics file is unreadable or does not follow the metric schema."""


class StorageError(WeightMomError):
    """A result could not be written (disk or quota full, file size limit); nothing was left half-written."""
