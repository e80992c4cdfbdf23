"""Pruning methods by name, each with a JSON schema of its options.

A built-in method is a module in `weightmom/pruning/methods/` with a `Pruner` subclass
decorated by `register_pruner`, and a `<module>.yaml` schema beside it. The workflow
validates every method entry of a config against that same schema before any job runs,
so adding a method needs no change anywhere else (docs/extending.md). A method from an
installed package outside this one is registered from its entry point
(weightmom.pruner_files) when the package is imported.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from weightmom.errors import SpecError
from weightmom.pruner_files import describe, pruner_entry_points
from weightmom.pruning.base import Pruner
from weightmom.schema_defaults import fill_and_check

_METHODS: dict[str, tuple[type[Pruner], dict[str, Any]]] = {}


def register_pruner(name: str, schema: Mapping[str, Any] | None = None) -> Callable[[type[Pruner]], type[Pruner]]:
    """Class decorator. Without `schema`, the options schema is the .yaml beside the class's module."""

    def decorate(cls: type[Pruner]) -> type[Pruner]:
        if name in _METHODS:
            raise ValueError(f"pruner {name!r} registered twice")
        options = (
            schema
            if schema is not None
            else yaml.safe_load(Path(inspect.getfile(cls)).with_suffix(".yaml").read_text())
        )
        cls.name = name
        _METHODS[name] = (cls, dict(options))
        return cls

    return decorate


def pruner_names() -> list[str]:
    return sorted(_METHODS)


def options_schema(name: str) -> dict[str, Any]:
    return _METHODS[name][1]


def with_defaults(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check `options` against the method's schema and fill in its defaults, those that
    depend on another option too (an `if`/`then` of the schema): what the method really uses."""
    if name not in _METHODS:
        raise SpecError(f"unknown pruner {name!r}; known pruners: {pruner_names()}")
    filled = dict(options)
    error = jsonschema.exceptions.best_match(fill_and_check(options_schema(name), filled))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path)
        message = error.message
        if error.validator == "not" and error.validator_value == {}:  # ruled out by another option
            message = f"{error.instance!r} is not allowed together with the other options given"
        raise SpecError(f"pruner {name!r} option{' ' + where if where else 's'}: {message}")
    return filled


def build_pruner(name: str, options: Mapping[str, Any]) -> Pruner:
    filled = with_defaults(name, options)
    return _METHODS[name][0](filled)


def register_entry_points() -> None:
    """Register the method of every installed entry point in group weightmom.pruners under
    the entry point's name (its schema: the .yaml beside the class's module)."""
    for name, point in pruner_entry_points().items():
        try:
            method = point.load()
        except Exception as error:
            raise SpecError(f"{describe(point)}: cannot be loaded ({type(error).__name__}: {error})") from None
        if not (isinstance(method, type) and issubclass(method, Pruner)):
            raise SpecError(f"{describe(point)}: names {method!r}, not a Pruner subclass (write 'module:ClassName')")
        if name in _METHODS and _METHODS[name][0] is method:
            continue  # its module registered it already, with @register_pruner
        if name in _METHODS:
            raise SpecError(f"{describe(point)}: a pruner named {name!r} is registered already")
        schema = Path(inspect.getfile(method)).with_suffix(".yaml")
        if not schema.is_file():
            raise SpecError(f"{describe(point)}: no options schema {schema} beside its module")
        register_pruner(name)(method)
