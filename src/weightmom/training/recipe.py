"""Training settings, checked when they are built: a recipe (dense training or per-round
fine-tuning) and the accelerator switches that apply only on a GPU."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from weightmom.errors import SpecError

LR_SCHEDULES = ("cosine", "step", "constant")


def _check_keys(cls: type, values: Mapping[str, Any], what: str, optional: frozenset[str] = frozenset()) -> None:
    names = {f.name for f in fields(cls)}
    unknown, missing = sorted(set(values) - names), sorted(names - set(values) - optional)
    if unknown or missing:
        raise SpecError(f"{what}: unknown keys {unknown}, missing keys {missing}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Augment:
    crop_padding: int = 0
    horizontal_flip: bool = False

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], what: str) -> Augment:
        _check_keys(cls, values, what, optional=frozenset({"crop_padding", "horizontal_flip"}))
        augment = cls(**values)
        if not isinstance(augment.crop_padding, int) or augment.crop_padding < 0:
            raise SpecError(f"{what}: crop_padding must be a non-negative integer, got {augment.crop_padding!r}")
        if not isinstance(augment.horizontal_flip, bool):
            raise SpecError(f"{what}: horizontal_flip must be true or false, got {augment.horizontal_flip!r}")
        return augment


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    lr_schedule: str
    lr_milestones: tuple[float, ...] = (0.5, 0.75)
    lr_gamma: float = 0.1
    augment: Augment = Augment()

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], what: str = "recipe") -> Recipe:
        _check_keys(cls, values, what, optional=frozenset({"lr_milestones", "lr_gamma", "augment"}))
        settings = dict(values)
        settings["augment"] = Augment.from_dict(settings.get("augment", {}), f"{what}.augment")
        settings["lr_milestones"] = tuple(settings.get("lr_milestones", (0.5, 0.75)))
        recipe = cls(**settings)
        for key in ("epochs", "batch_size"):
            value = getattr(recipe, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SpecError(f"{what}: {key} must be a positive integer, got {value!r}")
        for key in ("lr", "momentum", "weight_decay", "lr_gamma"):
            value = getattr(recipe, key)
            if not _is_number(value) or value < 0:
                raise SpecError(f"{what}: {key} must be a non-negative number, got {value!r}")
        if recipe.lr_schedule not in LR_SCHEDULES:
            raise SpecError(f"{what}: lr_schedule {recipe.lr_schedule!r} is not one of {list(LR_SCHEDULES)}")
        if not all(_is_number(m) and 0 < m < 1 for m in recipe.lr_milestones):
            raise SpecError(f"{what}: lr_milestones must be fractions in (0, 1), got {list(recipe.lr_milestones)}")
        return recipe


@dataclass(frozen=True)
class Accelerator:
    """Speed settings: channels_last applies on any device (on the 2-core CPU it trains
    ResNet-20 about 25% faster, benchmarks/bench_train_step.py); bf16 autocast and compile only on a GPU."""

    channels_last: bool = True
    bf16_autocast: bool = True
    compile: bool = False

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], what: str = "accelerator") -> Accelerator:
        _check_keys(cls, values, what, optional=frozenset({f.name for f in fields(cls)}))
        accelerator = cls(**values)
        for field in fields(cls):
            if not isinstance(getattr(accelerator, field.name), bool):
                raise SpecError(f"{what}: {field.name} must be true or false")
        return accelerator
