"""`python -m weightmom compare RESULTS_DIR`: the final rounds of a results folder, one row
per dataset, model and method (means over seeds), read from its collected metrics.parquet."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from weightmom.errors import MetricsError
from weightmom.lineage import DENSE

if TYPE_CHECKING:
    import pandas as pd

METRICS_FILE = "metrics.parquet"
HEADERS = ["dataset", "model", "method", "round", "seeds", "compression (x)", "top-1 (%)", "val top-1 (%)"]


def compare(*, results_dir: str | Path) -> None:
    print(final_rounds_table(results_dir))


def final_rounds_table(results_dir: str | Path) -> str:
    """Per dataset and model: the dense network (round 0), then each method's final round:
    seeds, compression, test top-1 as mean ± std over seeds ("no spread over N seeds" where
    they agree exactly), validation top-1 mean."""
    from weightmom.metrics import METRIC_SCHEMA, read_rows

    path = Path(results_dir)
    metrics_file = path / METRICS_FILE if path.is_dir() else path
    if not metrics_file.exists():
        raise MetricsError(
            f"{metrics_file}: not found; compare reads a results folder's collected metrics (results/<experiment>)"
        )
    frame = read_rows([metrics_file], METRIC_SCHEMA)
    if frame.empty:
        raise MetricsError(f"{metrics_file}: holds no metric rows")
    import pandas as pd

    dense = frame[frame["round"] == 0].drop_duplicates(["dataset", "model", "seed"]).assign(method=DENSE)
    final = frame[frame["round"] == frame.groupby(["dataset", "model", "method"])["round"].transform("max")]
    shown = pd.concat([dense, final[final["round"] > 0]], ignore_index=True)
    shown = shown.assign(pruned=shown["method"] != DENSE).sort_values(["dataset", "model", "pruned", "method", "seed"])
    rows = [_row(part) for _, part in shown.groupby(["dataset", "model", "pruned", "method"], sort=False)]
    return tabulate(
        rows, headers=HEADERS, tablefmt="github", disable_numparse=True, colalign=("left",) * 3 + ("right",) * 5
    )


def _row(rows: pd.DataFrame) -> list:
    """One table row from the rows of one method's final round, one per seed."""
    top1 = 100 * rows["top1"]
    first = rows.iloc[0]
    return [
        first["dataset"],
        first["model"],
        first["method"],
        int(first["round"]),
        rows["seed"].nunique(),
        f"{rows['compression_ratio'].mean():.2f}",
        f"{top1.mean():.2f}{_spread(top1)}",
        f"{100 * rows['val_top1'].mean():.2f}",
    ]


def _spread(top1: pd.Series) -> str:
    """What follows the mean: ± std; nothing for one seed; "no spread over N seeds" when the
    seeds agree exactly (compared as values: Series.std of equal floats can be 1e-17, not 0)."""
    from weightmom.tables import no_spread

    if len(top1) < 2:
        return ""
    return f" ({no_spread(len(top1))})" if top1.nunique() == 1 else f" ± {top1.std():.2f}"
