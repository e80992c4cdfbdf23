"""Models by name. Every builder takes the input shape and the number of classes."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from weightmom.errors import SpecError

Builder = Callable[[tuple[int, int, int], int], nn.Module]
_BUILDERS: dict[str, Builder] = {}

PRUNABLE_MODULES = (nn.Conv2d, nn.Linear)


def register_model(name: str) -> Callable[[Builder], Builder]:
    def decorate(builder: Builder) -> Builder:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} registered twice")
        _BUILDERS[name] = builder
        return builder

    return decorate


def model_names() -> list[str]:
    return sorted(_BUILDERS)


def build_model(name: str, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    if name not in _BUILDERS:
        raise SpecError(f"unknown model {name!r}; known models: {model_names()}")
    return _BUILDERS[name](tuple(input_shape), num_classes)


def prunable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The weights pruning acts on: every conv and linear weight, never biases or norms.

    A model may narrow this by defining `prunable_parameter_names()`.
    """
    named = dict(model.named_parameters())
    if hasattr(model, "prunable_parameter_names"):
        return {name: named[name] for name in model.prunable_parameter_names()}
    return {
        f"{module_name}.weight": module.weight
        for module_name, module in model.named_modules()
        if isinstance(module, PRUNABLE_MODULES)
    }
