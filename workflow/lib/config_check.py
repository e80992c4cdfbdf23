"""The config check (used by workflow/rules/validation.smk; plain Python, no Snakemake).

A config is checked against workflow/schemas/config.schema.yaml (its defaults filled in),
each method's options against its pruner's schema (defaults filled in too, the conditional
ones of weightmom.schema_defaults included), and then the
cross-references a JSON schema cannot express, the models against their datasets' image
sizes, and the local data files and folders the datasets read. The first problem found is a ConfigError
whose message is one line naming the key and its value; `check_or_exit` prints it alone,
in the form the weightmom CLI gives a step's error, and stops the run before Snakemake
builds the DAG, so a bad config starts no job and creates no file.
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import jsonschema
import yaml

from weightmom.image_shapes import image_side, too_small
from weightmom.schema_defaults import fill_and_check

#: The prefix of the printed line: `weightmom <step>: error: ` as the CLI prints a step's error.
ERROR_PREFIX = "weightmom config: error: "


#: Tables every experiment writes under results/<experiment>/tables/: no config table may take their names.
RESERVED_TABLES = ("claims", "paper")


class ConfigError(Exception):
    """A config that cannot run; the message is one line naming the key and its value."""


def key_name(path):
    """`training.dense.epochs`, `seeds[1]` for a jsonschema error path."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def explain(error, prefix=()):
    """One line naming the config key and its value for a jsonschema ValidationError."""
    path = [*prefix, *error.absolute_path]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        unknown = [key for key in error.instance if key not in known]
        if known and unknown:
            keys = ", ".join(key_name([*path, key]) for key in unknown)
            return f"config key {keys}: unknown key; allowed here: {', '.join(known)}"
    where = key_name(path) or "(top level)"
    alternatives = error.schema.get("oneOf", []) if error.validator == "oneOf" else []
    if alternatives and all(set(a) == {"required"} for a in alternatives):
        choices = " | ".join(" and ".join(a["required"]) for a in alternatives)
        return f"config key {where}: needs exactly one of: {choices}"
    if error.validator == "not" and error.validator_value == {}:  # ruled out by another key of the entry
        return f"config key {where}: {error.instance!r} is not allowed together with this entry's other settings"
    return f"config key {where}: {error.message}"


def _strict_integers(validator_class):
    """jsonschema takes 2.0 for an integer; a seed or an epoch count of 2.0 would end up
    in paths and loops as a float, so integers must be written as integers."""
    checker = validator_class.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(validator_class, type_checker=checker)


def check_against_schema(instance, schema, prefix=()):
    """Check `instance` against `schema` (a dict), filling in its defaults in place."""
    for error in fill_and_check(schema, instance):
        raise ConfigError(explain(error, prefix))
    base = jsonschema.Draft202012Validator
    strict = jsonschema.exceptions.best_match(_strict_integers(base)(schema).iter_errors(instance))
    if strict is not None:
        raise ConfigError(explain(strict, prefix))


def pruner_schemas():
    """Options schema of every pruner, built in or from an installed package's entry point
    (weightmom.pruner_files: located without importing the methods, so torch is not loaded
    here). A broken entry point is a ConfigError naming it."""
    from weightmom.errors import SpecError
    from weightmom.pruner_files import schema_files

    try:
        files = schema_files()
    except SpecError as error:
        raise ConfigError(str(error)) from None
    schemas = {}
    for name, path in files.items():
        try:
            schemas[name] = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"pruner {name!r}: cannot read its options schema {path} ({error})") from None
    return schemas


def check_methods(config, schemas):
    """Each method's options against its pruner's schema; fills the pruner's defaults."""
    for name, method in config["methods"].items():
        pruner = method["pruner"]
        if pruner not in schemas:
            raise ConfigError(
                f"config key methods.{name}.pruner: {pruner!r} is not a pruning method; known: {sorted(schemas)}"
            )
        options = {k: v for k, v in method.items() if k != "pruner"}
        try:
            check_against_schema(options, schemas[pruner], prefix=("methods", name))
        except ConfigError as error:
            raise ConfigError(f"{error} (options of pruner {pruner!r})") from None
        config["methods"][name] = {"pruner": pruner, **options}


def check_references(config):
    """Cross-references a JSON schema cannot express."""
    methods = list(config["methods"])
    for name, table in config["tables"].items():
        if name in RESERVED_TABLES:
            raise ConfigError(
                f"config key tables.{name}: the name is taken by the experiment's own tables/{name}.md; pick another"
            )
        if table["dataset"] not in config["datasets"]:
            raise ConfigError(
                f"config key tables.{name}.dataset: {table['dataset']!r} is not one of "
                f"the datasets {sorted(config['datasets'])}"
            )
        unknown = sorted(set(table.get("methods", [])) - set(methods))
        if unknown:
            raise ConfigError(f"config key tables.{name}.methods: {unknown} are not in methods {methods}")
    claimed = config.get("claims", {}).get("method", "weightmom")
    if claimed in config["methods"] and config["methods"][claimed]["pruner"] != "weightmom":
        raise ConfigError(
            f"config key claims.method: {claimed!r} runs pruner {config['methods'][claimed]['pruner']!r}, not weightmom"
        )
    pruning = config["pruning"]
    sweep = pruning.get("sweep")
    if sweep and sweep["max_compression"] <= pruning["target_compression"]:
        raise ConfigError(
            f"config key pruning.sweep.max_compression: {sweep['max_compression']:g} must be past the"
            f" target_compression {pruning['target_compression']:g}"
        )
    dense_epochs = config["training"]["dense"]["epochs"]
    for name, method in config["methods"].items():
        if method.get("rewind_epoch", 0) > dense_epochs:
            raise ConfigError(
                f"config key methods.{name}.rewind_epoch: {method['rewind_epoch']} is after the last dense epoch ({dense_epochs})"
            )


def check_model_sizes(config):
    """Every model of a table takes its dataset's images (known before reading them for the
    built-in sources and a resized imagefolder; otherwise the first training job says)."""
    for name, table in config["tables"].items():
        side = image_side(config["datasets"][table["dataset"]])
        for index, model in enumerate(table["models"]):
            problem = None if side is None else too_small(model, side, side)
            if problem is not None:
                raise ConfigError(f"config key tables.{name}.models[{index}]: {problem} (dataset {table['dataset']!r})")


def _unreadable(path, kind):
    """Why `path` cannot be read as a file or folder (`kind`), or None when it can."""
    if not path.exists():
        return "no such file or folder"
    if kind == "folder" and not path.is_dir():
        return "not a folder"
    if kind == "file" and not path.is_file():
        return "not a file"
    if not os.access(path, os.R_OK | (os.X_OK if kind == "folder" else 0)):
        return "not readable by this user"
    return None


def check_local_data(config, workdir="."):
    """The local files a dataset is read from exist and can be read: an imagefolder `root`
    (and its train/ and test/), a local `archive`, a file:// `url` or `archive`. A dataset
    already prepared under results/<experiment>/data/ is not read again (a clone that pulled
    it need not have the source), so it is not checked. Addresses on the network are checked
    when they are downloaded. Datasets no table uses are never read, nor checked."""
    prepared_root = Path(workdir) / "results" / config["experiment"] / "data"
    used = {table["dataset"] for table in config["tables"].values()}
    for name, spec in config["datasets"].items():
        if name not in used or (prepared_root / name / "train.npz").exists():
            continue
        location = spec.get("root") or spec.get("url") or spec.get("archive")
        if location is None or location.startswith(("http://", "https://")):
            continue
        key = next(k for k in ("root", "url", "archive") if k in spec)
        path = Path(location.removeprefix("file://")).expanduser()
        if not path.is_absolute():
            path = Path(workdir) / path
        kind = "folder" if key == "root" else "file"
        problem = _unreadable(path, kind)
        if problem is None and kind == "folder":
            missing = [split for split in ("train", "test") if _unreadable(path / split, "folder")]
            if missing:
                problem = f"{' and '.join(f'{split}/' for split in missing)} missing or unreadable (it holds train/<class>/ and test/<class>/)"
        if problem is not None:
            raise ConfigError(f"config key datasets.{name}.{key}: {location}: {problem}")


def checked(config, schema_file, schemas=None, workdir="."):
    """A copy of `config` with its defaults filled in, or ConfigError naming the first bad
    key. `schemas` (pruner name to options schema) defaults to the installed pruners';
    local data paths are read relative to `workdir`."""
    config = copy.deepcopy(config)
    claimed = (config.get("claims") or {}).get("method")
    check_against_schema(config, yaml.safe_load(Path(schema_file).read_text()))
    if claimed is not None and claimed not in config["methods"]:
        raise ConfigError(f"config key claims.method: {claimed!r} is not in methods {list(config['methods'])}")
    check_methods(config, pruner_schemas() if schemas is None else schemas)
    check_references(config)
    check_model_sizes(config)
    check_local_data(config, workdir)
    return config


def check_or_exit(config, schema_file, workdir="."):
    """Fill in `config`'s defaults in place, or print the one line naming its first bad
    key on stderr and exit with status 1: nothing else is printed (no traceback), and the
    run stops before any job starts."""
    try:
        config.update(checked(config, schema_file, workdir=workdir))
    except ConfigError as error:
        print(f"{ERROR_PREFIX}{error}", file=sys.stderr)
        raise SystemExit(1) from None
