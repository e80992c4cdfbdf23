"""Where each pruning method's code and options schema live, found without importing them.

A method is built in (a module in weightmom/pruning/methods/ with `<module>.yaml` beside
it, the module named as the method) or comes from an installed package that names it as
an entry point in the group `weightmom.pruners`:

    [project.entry-points."weightmom.pruners"]
    my_method = "my_package.my_method:MyMethod"

The entry point's name is the method's name, its value a `Pruner` subclass, and the
options schema is the `.yaml` beside that class's module, as for a built-in method. The
workflow reads these files before any job starts (to validate a config and to digest the
code a round runs) without loading torch, so nothing here imports a method.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from weightmom.errors import SpecError

ENTRY_POINT_GROUP = "weightmom.pruners"
METHODS_DIR = Path(__file__).resolve().parent / "pruning" / "methods"


def pruner_entry_points() -> dict[str, EntryPoint]:
    """The entry points of installed packages in ENTRY_POINT_GROUP, by method name."""
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def describe(point: EntryPoint) -> str:
    """`name = value (from distribution)`, to name an entry point in a message."""
    source = f" (from {point.dist.name} {point.dist.version})" if point.dist is not None else ""
    return f"pruner entry point '{point.name} = {point.value}'{source}"


def entry_point_module_file(point: EntryPoint) -> Path:
    """The source file of the module an entry point names (its parent packages are imported
    to find it, the module itself is not)."""
    try:
        spec = importlib.util.find_spec(point.module)
    except ImportError as error:
        raise SpecError(f"{describe(point)}: cannot find module {point.module!r} ({error})") from None
    if spec is None or spec.origin is None or not Path(spec.origin).is_file():
        raise SpecError(f"{describe(point)}: cannot find module {point.module!r}")
    return Path(spec.origin)


def entry_point_files(name: str) -> list[Path]:
    """The module and options schema of the method an entry point registers as `name`
    (empty if no entry point does)."""
    point = pruner_entry_points().get(name)
    if point is None:
        return []
    module = entry_point_module_file(point)
    return [path for path in (module, module.with_suffix(".yaml")) if path.is_file()]


def schema_files() -> dict[str, Path]:
    """The options schema file of every method, built-in and from entry points, by name."""
    schemas = {path.stem: path for path in METHODS_DIR.glob("*.yaml")}
    for name, point in pruner_entry_points().items():
        schemas.setdefault(name, entry_point_module_file(point).with_suffix(".yaml"))
    return schemas
