# The config is checked here, before the DAG is built: a bad key stops the run before any
# job starts, with a message naming the key and its value.
from pathlib import Path

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from weightmom.pruner_files import schema_files

CONFIG_SCHEMA = str(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")


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


def validation_error(error):
    """The jsonschema error behind the WorkflowError that snakemake.utils.validate raises."""
    cause = error.__cause__ or error.__context__
    return cause if isinstance(cause, ValidationError) else None


def strict_integer_errors(instance, schema_file):
    """jsonschema takes 2.0 for an integer; a seed or an epoch count of 2.0 would end up
    in paths and loops as a float, so integers must be written as integers."""
    schema = yaml.safe_load(Path(schema_file).read_text())
    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    strict = jsonschema.validators.extend(base, type_checker=checker)(schema)
    return jsonschema.exceptions.best_match(strict.iter_errors(instance))


def check_against_schema(instance, schema_file, prefix=()):
    """Check `instance` against `schema_file`; Snakemake's validate fills in the defaults."""
    try:
        validate(instance, schema_file)
    except WorkflowError as error:
        cause = validation_error(error)
        if cause is None:
            raise
        raise WorkflowError(explain(cause, prefix)) from None
    strict = strict_integer_errors(instance, schema_file)
    if strict is not None:
        raise WorkflowError(explain(strict, prefix))


def pruner_schemas():
    """Options schema of every pruner, built in or from an installed package's entry point
    (weightmom.pruner_files: located without importing the methods, so torch is not loaded here)."""
    return schema_files()


def validate_methods():
    """Each method's options against its pruner's schema; fills the pruner's defaults."""
    schemas = pruner_schemas()
    for name, method in config["methods"].items():
        pruner = method["pruner"]
        if pruner not in schemas:
            raise WorkflowError(
                f"config key methods.{name}.pruner: {pruner!r} is not a pruning method; known: {sorted(schemas)}"
            )
        options = {k: v for k, v in method.items() if k != "pruner"}
        try:
            check_against_schema(options, str(schemas[pruner]), prefix=("methods", name))
        except WorkflowError as error:
            raise WorkflowError(f"{error} (options of pruner {pruner!r})") from None
        config["methods"][name] = {"pruner": pruner, **options}


def check_references():
    """Cross-references a JSON schema cannot express."""
    methods = list(config["methods"])
    for name, table in config["tables"].items():
        if table["dataset"] not in config["datasets"]:
            raise WorkflowError(
                f"config key tables.{name}.dataset: {table['dataset']!r} is not one of "
                f"the datasets {sorted(config['datasets'])}"
            )
        unknown = sorted(set(table.get("methods", [])) - set(methods))
        if unknown:
            raise WorkflowError(f"config key tables.{name}.methods: {unknown} are not in methods {methods}")
    dense_epochs = config["training"]["dense"]["epochs"]
    for name, method in config["methods"].items():
        if method.get("rewind_epoch", 0) > dense_epochs:
            raise WorkflowError(
                f"config key methods.{name}.rewind_epoch: {method['rewind_epoch']} is after the last dense epoch ({dense_epochs})"
            )


check_against_schema(config, CONFIG_SCHEMA)
validate_methods()
check_references()
