"""A training recipe (dense training or per-round fine-tuning), checked when it is built."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from weightmom.errors import SpecError

LR_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    lr_schedule: str

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], what: str = "recipe") -> "Recipe":
        names = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(values) - names), sorted(names - set(values))
        if unknown or missing:
            raise SpecError(f"{what}: unknown keys {unknown}, missing keys {missing}")
        recipe = cls(**values)
        for key in ("epochs", "batch_size"):
            value = getattr(recipe, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"{what}: {key} must be a positive integer, got {value!r}")
        for key in ("lr", "momentum", "weight_decay"):
            value = getattr(recipe, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise SpecError(f"{what}: {key} must be a non-negative number, got {value!r}")
        if recipe.lr_schedule not in LR_SCHEDULES:
            raise SpecError(f"{what}: lr_schedule {recipe.lr_schedule!r} is not one of {list(LR_SCHEDULES)}")
        return recipe

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
