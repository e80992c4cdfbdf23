"""The paper's three claims, checked from an experiment's metric rows.

The abstract of WeightMom (arXiv 2208.05970) claims that the method
    C1  outperforms previous approaches in accuracy at the same compression,
    C2  reaches 15x compression for the same accuracy degradation, on CIFAR-10 and CIFAR-100,
    C3  on AlexNet, VGG16 and ResNet50.
Each becomes a measured table, never a typed verdict:
    C1  per (dataset, model) cell, WeightMom (the config's `claims.method`) against every
        method of another pruner at the target compression: the paired test top-1 difference
        with its 95% interval (weightmom.reporting.tables.paired_differences: a paired t-interval over
        seeds, or a paired bootstrap over the test images with one seed) and a verdict per
        pair: better (interval above 0), worse (below 0), within the noise (contains 0), or
        no interval: one seed and no predictions, seeds whose differences all agree exactly
        (the basis says "no spread over N seeds": a zero-width interval is no evidence), or a
        t-interval that leaves the -100 to 100 points a difference can be.
    C2  per cell and method, the highest compression whose drop from the dense top-1 stays
        within `tolerance` points: the last round within it, interpolated on log compression
        towards the next round (linear in the drop); a method still within it at its last
        round is censored there (">= 50x"). WeightMom's value over the best baseline's.
    C3  the paper's grid (AlexNet, VGG16-BN, ResNet50 x CIFAR-10, CIFAR-100), per cell the
        protocol that gave the evidence (dataset, epochs, rounds, seeds), or "not run".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from weightmom.reporting.tables import paired_differences, per_seed_final, with_drop

PAPER_MODELS = ("alexnet", "vgg16_bn", "resnet50")
PAPER_DATASETS = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
KEYS = ["dataset", "model", "method", "seed"]
# Two compressions within 1% of each other are the same compression (interpolation noise).
SAME_COMPRESSION = 0.01


def pair_verdict(low: float, high: float) -> str:
    """better / worse / within the noise, from the 95% interval of (WeightMom - baseline); no
    interval without one, or with a zero-width one: seeds that agree exactly say nothing of the
    noise, so they can show neither a difference nor its absence."""
    if pd.isna(low) or pd.isna(high) or low == high:
        return "no interval"
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "within the noise"


def compression_within(rounds: pd.DataFrame, tolerance: float, last_round: int) -> tuple[float, bool]:
    """(compression, censored) of one run: rows of rounds 0..`last_round` with
    `compression_ratio` and `drop` (points), in any order. The last round within
    `tolerance`, interpolated on log compression towards the next one; censored when the
    run's last round is still within it. NaN for a run with a round missing or a NaN top-1."""
    rounds = rounds.sort_values("round")
    if list(rounds["round"]) != list(range(last_round + 1)) or rounds["drop"].isna().any():
        return float("nan"), False
    compression = rounds["compression_ratio"].to_numpy(dtype=float)
    drop = rounds["drop"].to_numpy(dtype=float)
    last = int(np.flatnonzero(drop <= tolerance + 1e-9)[-1])  # round 0 has no drop
    if last == last_round:
        return float(compression[last]), True
    low, high = math.log(compression[last]), math.log(compression[last + 1])
    fraction = (tolerance - drop[last]) / (drop[last + 1] - drop[last])
    return float(math.exp(low + fraction * (high - low))), False


def accuracy_claim(
    frame: pd.DataFrame,
    predictions: pd.DataFrame | None,
    claimed: str,
    baselines: Sequence[str],
    target: float,
    tolerance: float,
) -> pd.DataFrame:
    """C1: per cell, the claimed method against each baseline at the target compression."""
    rows = []
    for (dataset, model), cell in frame.groupby(["dataset", "model"]):
        present = set(cell["method"])
        compared = [b for b in baselines if b in present]
        if claimed not in present or not compared:
            continue
        finals = per_seed_final(cell.drop(columns="dataset"), tolerance, target)
        cell_predictions = None if predictions is None else predictions[predictions["dataset"] == dataset]
        differences = paired_differences(finals, [claimed, *compared], cell_predictions, reference=claimed)
        top1 = finals.groupby("method")["top1"].mean()
        seeds = finals.groupby("method")["seed"].apply(set)
        for baseline in compared:
            row = differences[differences["method"] == baseline].iloc[0]
            # paired_differences gives baseline - claimed; the claim reads claimed - baseline
            low, high = -row["diff_ci_high"], -row["diff_ci_low"]
            rows.append(
                {
                    "dataset": dataset,
                    "model": model,
                    "method": claimed,
                    "baseline": baseline,
                    "top1": top1[claimed],
                    "baseline_top1": top1[baseline],
                    "difference": -row["diff_mean"],
                    "ci_low": low,
                    "ci_high": high,
                    "basis": row["diff_note"] or row["diff_basis"] or _no_interval(seeds[claimed] & seeds[baseline]),
                    "seeds": len(seeds[claimed] & seeds[baseline]),
                    "verdict": pair_verdict(low, high),
                }
            )
    return pd.DataFrame(rows, columns=_C1_COLUMNS)


def _no_interval(paired_seeds: set) -> str:
    return "one seed, no predictions" if paired_seeds else "no seed in common"


_C1_COLUMNS = [
    "dataset", "model", "method", "baseline", "top1", "baseline_top1", "difference",
    "ci_low", "ci_high", "basis", "seeds", "verdict",
]  # fmt: skip


def compression_claim(
    frame: pd.DataFrame, claimed: str, baselines: Sequence[str], target: float, tolerance: float, last_round: int
) -> pd.DataFrame:
    """C2: per cell and method, the compression within `tolerance` (mean over seeds), and on
    the claimed method's row its ratio to the best baseline's."""
    runs = []
    for key, run in with_drop(frame, KEYS).groupby(KEYS):
        compression, censored = compression_within(run, tolerance, last_round)
        runs.append(
            dict(zip(KEYS, key), compression=compression, censored=censored, dense_top1=run["dense_top1"].iloc[0])
        )
    per_seed = pd.DataFrame(runs, columns=[*KEYS, "compression", "censored", "dense_top1"])
    table = (
        per_seed.groupby(["dataset", "model", "method"])
        .agg(
            dense_top1=("dense_top1", "mean"),
            compression=("compression", "mean"),
            censored=("censored", "any"),
            seeds=("seed", "nunique"),
        )  # fmt: skip
        .reset_index()
    )
    table = table[table["method"].isin([claimed, *baselines])].copy()
    table["role"] = np.where(table["method"] == claimed, "claimed", "baseline")
    # a schedule reaches the target to one weight: 14.998x on a small network is 15x
    table["reaches_target"] = table["compression"] >= target * (1 - SAME_COMPRESSION)
    table["best_baseline"], table["ratio_to_best"], table["verdict"] = "", np.nan, ""
    for _, cell in table.groupby(["dataset", "model"]):
        mine = cell[cell["method"] == claimed]
        others = cell[cell["method"] != claimed]
        if mine.empty or others.empty:
            continue
        index = mine.index[0]
        if mine["compression"].isna().any() or others["compression"].isna().all():
            table.loc[index, "verdict"] = "no value (a run is incomplete)"
            continue
        best = others.loc[others["compression"].idxmax()]
        ratio = mine["compression"].iloc[0] / best["compression"]
        table.loc[index, ["best_baseline", "ratio_to_best"]] = [best["method"], ratio]
        table.loc[index, "verdict"] = _compression_verdict(
            ratio, bool(mine["censored"].iloc[0]), bool(best["censored"])
        )
    return table.sort_values(["dataset", "model", "role", "method"]).reset_index(drop=True)


def _compression_verdict(ratio: float, censored: bool, best_censored: bool) -> str:
    if censored and best_censored:
        return "not separated (both within tolerance to the sweep's end)"
    if abs(ratio - 1) <= SAME_COMPRESSION:
        return "same"
    if ratio > 1:
        return "higher" if not best_censored else "same or lower (baseline censored)"
    return "lower" if not censored else "same or higher (WeightMom censored)"


@dataclass(frozen=True)
class Protocol:
    """What an experiment ran, as the coverage table states it."""

    dense_epochs: int
    finetune_epochs: int
    rounds: int
    target: float
    sweep_rounds: int
    sweep_to: float | None
    seeds: int

    @classmethod
    def from_config(cls, training: Mapping[str, Any], pruning: Mapping[str, Any], seeds: Sequence[int]) -> Protocol:
        sweep = pruning.get("sweep") or {}
        return cls(
            int(training["dense"]["epochs"]),
            int(training["finetune"]["epochs"]),
            int(pruning["rounds"]),
            float(pruning["target_compression"]),
            int(sweep.get("rounds", 0)),
            sweep.get("max_compression"),
            len(seeds),
        )

    def describe(self) -> str:
        text = f"dense {self.dense_epochs} ep; {self.rounds} rounds to {self.target:g}x"
        if self.sweep_rounds:
            text += f" + {self.sweep_rounds} to {self.sweep_to:g}x"
        return f"{text}, {self.finetune_epochs} fine-tuning ep each; {self.seeds} seed{'s' * (self.seeds != 1)}"


def coverage_claim(frame: pd.DataFrame, paper_datasets: Mapping[str, str | None], protocol: Protocol) -> pd.DataFrame:
    """C3: the paper's grid, per cell the dataset that stood for it and the protocol, or not run."""
    ran = frame[frame["round"] > 0].groupby(["dataset", "model"])["method"].nunique()
    rows = []
    for paper_dataset, label in PAPER_DATASETS.items():
        for model in PAPER_MODELS:
            stand_ins = [d for d, p in paper_datasets.items() if p == paper_dataset and (d, model) in ran.index]
            rows.append(
                {
                    "paper_dataset": label,
                    "model": model,
                    "dataset": ", ".join(stand_ins),
                    "status": "run" if stand_ins else "not run",
                    "protocol": protocol.describe() if stand_ins else "",
                    "methods": int(sum(ran[(d, model)] for d in stand_ins)) if stand_ins else 0,
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Verdict:
    claim: str
    verdict: str
    evidence: str


def accuracy_verdict(c1: pd.DataFrame) -> Verdict:
    claim = "C1: outperforms previous approaches in accuracy at the target compression"
    if c1.empty:
        return Verdict(claim, "not tested", "no cell has WeightMom and a baseline")
    counts = c1["verdict"].value_counts()
    worse = c1[c1["verdict"] == "worse"]
    text = ", ".join(f"{counts.get(v, 0)} {v}" for v in ("better", "within the noise", "worse", "no interval"))
    evidence = f"{len(c1)} pairs in {c1.groupby(['dataset', 'model']).ngroups} cells: {text}"
    if not worse.empty:
        names = sorted({f"{r.baseline} ({r.dataset}/{r.model})" for r in worse.itertuples()})
        return Verdict(claim, "not reproduced", f"{evidence}; worse than {', '.join(names)}")
    if counts.get("better", 0) == len(c1):
        return Verdict(claim, "supported", evidence)
    return Verdict(claim, "not shown", f"{evidence}; the rest cannot be told apart from the baselines")


def compression_verdict(c2: pd.DataFrame, target: float, tolerance: float) -> Verdict:
    claim = f"C2: {target:g}x compression at the same accuracy degradation (drop <= {tolerance:g} pt), both datasets"
    mine = c2[(c2["role"] == "claimed") & (c2["best_baseline"] != "")]
    if mine.empty:
        return Verdict(claim, "not tested", "no cell has WeightMom and a baseline")
    reached = int(mine["reaches_target"].sum())
    cells = [
        f"{r.dataset}/{r.model} {_times(r.compression, r.censored)} vs {r.best_baseline} "
        f"{_times(c2[(c2.dataset == r.dataset) & (c2.model == r.model) & (c2.method == r.best_baseline)].compression.iloc[0])}"
        for r in mine.itertuples()
    ]
    higher = int((mine["verdict"] == "higher").sum())
    lower = int((mine["verdict"] == "lower").sum())
    evidence = (
        f"WeightMom within {tolerance:g} pt up to: " + "; ".join(cells) + f" ({reached} of {len(mine)} cells reach "
        f"{target:g}x; above the best baseline in {higher}, below it in {lower})"
    )
    if reached == len(mine) and lower == 0:
        return Verdict(claim, "supported", evidence)
    if reached == 0 or (reached < len(mine) and lower > 0 and higher == 0):
        return Verdict(claim, "not reproduced", evidence)
    return Verdict(claim, "partly", evidence)


def coverage_verdict(c3: pd.DataFrame) -> Verdict:
    claim = "C3: on AlexNet, VGG16 and ResNet50, CIFAR-10 and CIFAR-100"
    run = c3[c3["status"] == "run"]
    evidence = f"{len(run)} of {len(c3)} cells run" + (
        ": " + ", ".join(f"{r.model}/{r.paper_dataset}" for r in run.itertuples()) if len(run) else ""
    )
    verdict = "covered" if len(run) == len(c3) else ("not run" if run.empty else "partly covered")
    return Verdict(claim, verdict, evidence)


def _times(value: float, censored: bool = False) -> str:
    return f"{'>= ' if censored else ''}{value:.1f}x"


@dataclass(frozen=True)
class Claims:
    verdicts: list[Verdict]
    accuracy: pd.DataFrame
    compression: pd.DataFrame
    coverage: pd.DataFrame


def check_claims(
    frame: pd.DataFrame,
    predictions: pd.DataFrame | None,
    method_options: Mapping[str, Mapping[str, Any]],
    claimed: str,
    target: float,
    tolerance: float,
    paper_datasets: Mapping[str, str | None],
    protocol: Protocol,
) -> Claims:
    """The three claims from metric rows with every method's round 0 (weightmom.evaluation.metrics.expand_dense)."""
    baselines = [m for m, options in method_options.items() if options["pruner"] != "weightmom"]
    compared = frame[frame["method"].isin([claimed, *baselines])]
    # every method gets a copy of round 0 (expand_dense): a method counts in a cell only
    # where it has pruned rounds there
    ran = compared[compared["round"] > 0].groupby(["dataset", "model", "method"]).size()
    compared = compared[compared.set_index(["dataset", "model", "method"]).index.isin(ran.index)]
    c1 = accuracy_claim(compared, predictions, claimed, baselines, target, tolerance)
    c2 = compression_claim(compared, claimed, baselines, target, tolerance, protocol.rounds + protocol.sweep_rounds)
    c3 = coverage_claim(frame, paper_datasets, protocol)
    covered = {PAPER_DATASETS[paper_datasets[d]] for d in c1["dataset"] if paper_datasets.get(d)}
    verdicts = [
        on_paper_datasets(accuracy_verdict(c1), covered, needs_both=False),
        on_paper_datasets(compression_verdict(c2, target, tolerance), covered, needs_both=True),
        coverage_verdict(c3),
    ]
    return Claims(verdicts, c1, c2, c3)


def on_paper_datasets(verdict: Verdict, covered: set[str], needs_both: bool) -> Verdict:
    """A verdict on none of the paper's datasets says so; C2 claims both datasets, so a
    "supported" on one of them is "partly"."""
    if verdict.verdict == "not tested":
        return verdict
    if not covered:
        return Verdict(verdict.claim, f"{verdict.verdict} (on none of the paper's datasets)", verdict.evidence)
    missing = sorted(set(PAPER_DATASETS.values()) - covered)
    if needs_both and missing and verdict.verdict == "supported":
        return Verdict(verdict.claim, "partly", f"{verdict.evidence}; {', '.join(missing)} not run")
    return verdict
