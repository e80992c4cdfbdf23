"""The paper-shaped table: rows model x method, accuracy at the target compression.

Top-1 values are percentages; mean and sample standard deviation are over seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from weightmom.atomic import atomic_path, atomic_write_text
from weightmom.metrics import write_table

_STATS = ["dense_top1", "top1", "drop", "compression", "flops_reduction"]


def per_seed_final(frame: pd.DataFrame) -> pd.DataFrame:
    """For every (model, method, seed): dense top-1 (round 0) and the final round's numbers."""
    keys = ["model", "method", "seed"]
    dense = frame[frame["round"] == 0].set_index(keys)["top1"].rename("dense_top1")
    final_round = frame.groupby(keys)["round"].transform("max")
    final = frame[(frame["round"] == final_round) & (frame["round"] > 0)].set_index(keys)
    result = pd.DataFrame(
        {
            "round": final["round"],
            "dense_top1": dense.reindex(final.index) * 100,
            "top1": final["top1"] * 100,
            "compression": final["compression_ratio"],
            "flops_reduction": final["flops_dense"] / final["flops_sparse"],
        }
    )
    result["drop"] = result["dense_top1"] - result["top1"]
    return result.reset_index()


def paper_table(frame: pd.DataFrame, models: Sequence[str], methods: Sequence[str]) -> pd.DataFrame:
    """Mean and std over seeds per (model, method), in the given row order."""
    finals = per_seed_final(frame)
    grouped = finals.groupby(["model", "method"])
    table = grouped[_STATS].agg(["mean", "std"])
    table.columns = [f"{stat}_{agg}" for stat, agg in table.columns]
    table["seeds"] = grouped["seed"].nunique()
    table["round"] = grouped["round"].max()
    order = pd.MultiIndex.from_product([models, methods], names=["model", "method"])
    return table.reindex(order).dropna(how="all").reset_index()


def to_markdown(table: pd.DataFrame) -> str:
    def pm(stat: str, digits: int = 2) -> pd.Series:
        return table.apply(
            lambda row: f"{row[stat + '_mean']:.{digits}f} ± {0.0 if pd.isna(row[stat + '_std']) else row[stat + '_std']:.{digits}f}",
            axis=1,
        )

    shown = pd.DataFrame(
        {
            "Model": table["model"],
            "Method": table["method"],
            "Dense top-1 (%)": pm("dense_top1"),
            "Pruned top-1 (%)": pm("top1"),
            "Drop (pts)": pm("drop"),
            "Compression (x)": pm("compression", 1),
            "FLOPs reduction (x)": pm("flops_reduction", 1),
            "Seeds": table["seeds"].astype(int),
        }
    )
    return shown.to_markdown(index=False) + "\n"


def write_table_files(table: pd.DataFrame, prefix: str | Path, title: str) -> None:
    """<prefix>.md (formatted), .csv and .parquet (numeric)."""
    prefix = Path(prefix)
    atomic_write_text(prefix.with_suffix(".md"), f"# {title}\n\n{to_markdown(table)}")
    with atomic_path(prefix.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
    write_table(table, prefix.with_suffix(".parquet"))
