"""Model registry; importing this package registers every built-in model. Imports only the
foundation modules (errors) and torch/torchvision: every later stage builds networks here."""

from weightmom.models import cifar, digits  # noqa: F401  (registration side effect)
from weightmom.models.registry import PRUNABLE_MODULES, build_model, model_names, prunable_parameters, register_model

__all__ = ["PRUNABLE_MODULES", "build_model", "model_names", "prunable_parameters", "register_model"]
