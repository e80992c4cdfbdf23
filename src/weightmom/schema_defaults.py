"""JSON-schema checking that fills in defaults as it goes, the conditional ones too.

A property's `default` is set when the property is missing, wherever jsonschema validates
a `properties` keyword: at the top of a schema, in nested objects, and in the `then` of an
`if` that holds (a pruner's options whose default depends on another option, such as
WeightMom's `statistic`, used by `allocation: score_budget` alone). Torch-free: the
workflow's config check and the pruners' option check share it.
"""

from __future__ import annotations

from typing import Any

import jsonschema


def _filling(validator_class: type) -> type:
    """`validator_class` that also sets each missing property that has a default
    (https://python-jsonschema.readthedocs.io/en/latest/faq/), as snakemake.utils.validate does."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


FillingValidator = _filling(jsonschema.Draft202012Validator)


def fill_and_check(schema: dict[str, Any], instance: Any) -> list[jsonschema.ValidationError]:
    """Fill `instance`'s defaults in place and return what is wrong with it. Filling runs
    until nothing changes, so a default under an `if` that another default makes true is
    set whatever the order of the schema's keywords."""
    validator = FillingValidator(schema)
    while True:
        before = repr(instance)
        errors = list(validator.iter_errors(instance))
        if repr(instance) == before:
            return errors
