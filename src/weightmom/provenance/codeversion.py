"""A digest of the package source a pipeline step runs, so that editing it reruns the step.

Granularity is the source file. A step's files are its step module (weightmom.steps.*, or
weightmom.reporting.reports for the collecting, table and figure steps), every weightmom module it
imports, transitively (an import anywhere in a file counts, a package's __init__ counts
with any of its modules), and the command-line dispatcher every job goes through with what
it imports at module level (not the step modules it imports inside a function, one per step). Pruning
methods are the exception: the methods package loads all of them, but a pruning round's
digest holds only its own method's module (with what that imports) and options schema, so
editing one method reruns that method's rounds alone. Found by reading the files (ast),
without importing them: the workflow computes digests before any job starts.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

from weightmom.pruner_files import ENTRY_POINT_GROUP, entry_point_files

PACKAGE = "weightmom"
ROOT = Path(__file__).resolve().parent.parent  # the weightmom package
METHODS = f"{PACKAGE}.pruning.methods"
DISPATCH = (f"{PACKAGE}.__main__", f"{PACKAGE}.cli")

#: the module holding each step's function
STEP_MODULES = {
    "prepare": f"{PACKAGE}.steps.data",
    "train": f"{PACKAGE}.steps.train",
    "prune": f"{PACKAGE}.steps.prune",
    "evaluate": f"{PACKAGE}.steps.evaluate",
    "export": f"{PACKAGE}.steps.export",
    "report": f"{PACKAGE}.reporting.reports",
}


def _file(module: str, root: Path) -> Path | None:
    """The source file of a weightmom module (a package's __init__.py), None if there is none."""
    relative = Path(*module.split(".")[1:])
    for candidate in (root / relative / "__init__.py", (root / relative).with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imports(module: str, root: Path, top_level_only: bool = False) -> set[str]:
    """weightmom modules named by the import statements of `module`'s file (anywhere in it,
    or with `top_level_only` those run on import)."""
    path = _file(module, root)
    is_package = path is not None and path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                parts = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {name for name in found if name.split(".")[0] == PACKAGE and _file(name, root) is not None}


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _closure(roots: list[str], root: Path) -> set[str]:
    """`roots` and every weightmom module they import, transitively. The methods package
    loads its modules at run time (pkgutil), which no import statement shows: a method
    module is in the closure only as a root or when another module imports it by name."""
    seen: set[str] = set()
    todo = [parent for start in roots for parent in _with_parents(start)]
    while todo:
        module = todo.pop()
        if module in seen or _file(module, root) is None:
            continue
        seen.add(module)
        for name in _imports(module, root):
            todo.extend(_with_parents(name))
    return seen


def _method_module(pruner: str, root: Path) -> str | None:
    """The module under pruning/methods registering `pruner` (@register_pruner("<pruner>"))."""
    for path in sorted((root / "pruning" / "methods").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "register_pruner"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == pruner
            ):
                return f"{METHODS}.{path.stem}"
    return None


def step_files(step: str, pruner: str | None = None, root: Path = ROOT) -> list[Path]:
    """The source files whose content decides what `step` computes (with `pruner`, a round
    of that method), in the package at `root`. A pruner found in no method file (registered
    from outside the package) brings in every method module: more reruns, never an edit
    ignored. A pruner an installed package provides (an entry point, weightmom.pruner_files)
    also brings in the module the entry point names and its options schema."""
    if step not in STEP_MODULES:
        raise ValueError(f"unknown step {step!r}; known: {sorted(STEP_MODULES)}")
    dispatch_imports = {name for module in DISPATCH for name in _imports(module, root, top_level_only=True)}
    roots = [STEP_MODULES[step], *sorted(dispatch_imports - set(DISPATCH))]
    if pruner is not None:
        own = _method_module(pruner, root)
        roots += [own] if own else [f"{METHODS}.{p.stem}" for p in (root / "pruning" / "methods").glob("*.py")]
    modules = _closure(roots, root) | {parent for module in DISPATCH for parent in _with_parents(module)}
    files = {path for path in (_file(module, root) for module in modules) if path is not None}
    schemas = {
        path.with_suffix(".yaml")
        for path in files
        if path.parent.name == "methods" and path.with_suffix(".yaml").is_file()
    }
    plugin = set(entry_point_files(pruner)) if pruner is not None and own is None else set()
    return sorted(files | schemas | plugin)


@cache
def step_digest(step: str, pruner: str | None = None, root: Path = ROOT) -> str:
    """sha256 (16 hex digits) over the relative path and bytes of each of step_files.
    Cached: one workflow run asks for each digest once per job."""
    digest = hashlib.sha256()
    for path in step_files(step, pruner, root):
        # a file of another installed package by its name alone: where it is installed does not count
        name = path.relative_to(root).as_posix() if path.is_relative_to(root) else f"{ENTRY_POINT_GROUP}/{path.name}"
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
