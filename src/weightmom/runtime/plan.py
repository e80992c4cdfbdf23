"""The training jobs a config plans: the grid the workflow runs (per table its dataset,
models, seeds and methods, each job once), from the config alone. No torch here: the
workflow reads it when it starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from weightmom.lineage import DENSE


@dataclass(frozen=True)
class PlannedJob:
    """One training job of the grid: a dense run (stage 'dense') or a pruning round."""

    dataset: str
    model: str
    seed: int
    stage: str  # "dense" or "<method>/round<r>"
    epochs: int
    batch_size: int


def total_rounds(pruning: Mapping[str, Any]) -> int:
    """Rounds of a config's `pruning` entry: `rounds` to the target compression, then the
    sweep's past it (weightmom.pruning.schedule)."""
    return pruning["rounds"] + pruning.get("sweep", {}).get("rounds", 0)


def training_plan(config: Mapping[str, Any]) -> list[PlannedJob]:
    """Every training job the config's tables need, each once (tables share dense runs)."""
    dense, finetune = config["training"]["dense"], config["training"]["finetune"]
    rounds = total_rounds(config["pruning"])
    jobs: dict[tuple, PlannedJob] = {}
    for table in config["tables"].values():
        methods = table.get("methods", list(config["methods"]))
        for model in table["models"]:
            for seed in config["seeds"]:
                key = (table["dataset"], model, seed)
                jobs[(*key, DENSE)] = PlannedJob(*key, DENSE, dense["epochs"], dense["batch_size"])
                for method in methods:
                    for r in range(1, rounds + 1):
                        stage = f"{method}/round{r}"
                        jobs[(*key, stage)] = PlannedJob(*key, stage, finetune["epochs"], finetune["batch_size"])
    return list(jobs.values())
