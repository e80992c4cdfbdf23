"""Paper tables: rows model x method, accuracy and cost at the target compression.

Top-1 is on the test split (what the paper reports); the validation top-1 beside it is
what choices are made on. Top-1 values are percentages; mean and sample standard
deviation are over seeds. The best method per model (highest pruned test top-1) is bold.
Written as .md, .tex (booktabs), .csv and .parquet; the last two are numeric.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from weightmom.atomic import atomic_path, atomic_write_text
from weightmom.metrics import write_table

STATS = ["dense_top1", "top1", "val_top1", "drop", "compression", "flops_reduction", "max_compression"]


def per_seed_final(frame: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per (model, method, seed): dense top-1, the final round's numbers, and the highest
    compression any round reached with a drop of at most `tolerance` points."""
    keys = ["model", "method", "seed"]
    dense = frame[frame["round"] == 0].set_index(keys)["top1"].rename("dense_top1") * 100
    rows = frame.join(dense, on=keys)
    rows["drop"] = rows["dense_top1"] - rows["top1"] * 100
    within = rows[rows["drop"] <= tolerance + 1e-9].groupby(keys)["compression_ratio"].max()
    last = rows[rows["round"] == rows.groupby(keys)["round"].transform("max")].set_index(keys)
    last = last[last["round"] > 0]
    return pd.DataFrame(
        {
            "round": last["round"],
            "dense_top1": last["dense_top1"],
            "top1": last["top1"] * 100,
            "val_top1": last["val_top1"] * 100,
            "drop": last["drop"],
            "compression": last["compression_ratio"],
            "flops_reduction": last["flops_dense"] / last["flops_sparse"],
            "max_compression": within.reindex(last.index).fillna(1.0),
        }
    ).reset_index()


def summary_table(
    frame: pd.DataFrame, models: Sequence[str], methods: Sequence[str], tolerance: float
) -> pd.DataFrame:
    """Mean and std over seeds per (model, method), rows in the given order."""
    finals = per_seed_final(frame, tolerance)
    grouped = finals.groupby(["model", "method"])
    table = grouped[STATS].agg(["mean", "std"])
    table.columns = [f"{stat}_{agg}" for stat, agg in table.columns]
    table["seeds"] = grouped["seed"].nunique()
    table["round"] = grouped["round"].max()
    order = pd.MultiIndex.from_product([models, methods], names=["model", "method"])
    table = table.reindex(order).dropna(how="all").reset_index()
    best = table.groupby("model")["top1_mean"].transform("max")
    table["best"] = table["top1_mean"] >= best - 1e-9
    return table


def _columns(target: float, tolerance: float) -> list[tuple[str, str, int, str]]:
    """(statistic, markdown header, decimals, LaTeX header)."""
    return [
        ("dense_top1", "Dense top-1 (%)", 2, r"Dense top-1 (\%)"),
        ("top1", f"Top-1 at {target:g}x (%)", 2, rf"Top-1 at {target:g}$\times$ (\%)"),
        ("val_top1", f"Val top-1 at {target:g}x (%)", 2, rf"Val top-1 at {target:g}$\times$ (\%)"),
        ("drop", "Drop (pts)", 2, "Drop (pts)"),
        ("compression", "Compression (x)", 1, r"Compression ($\times$)"),
        ("flops_reduction", "FLOPs reduction (x)", 1, r"FLOPs red.\ ($\times$)"),
        ("max_compression", f"Max compression, drop <= {tolerance:g} pt (x)", 1, rf"Max comp., drop $\le$ {tolerance:g} ($\times$)"),
    ]


def _pm(row: pd.Series, stat: str, digits: int, latex: bool) -> str:
    """mean ± std; the mean alone when there is one seed (no spread to show)."""
    mean, std = f"{row[f'{stat}_mean']:.{digits}f}", row[f"{stat}_std"]
    text = mean if pd.isna(std) else (rf"{mean} \pm {std:.{digits}f}" if latex else f"{mean} ± {std:.{digits}f}")
    return f"${text}$" if latex else text


def _latex_bold(text: str) -> str:
    """Bold in LaTeX: \\textbf does not reach inside math, so a $...$ cell goes under \\boldmath."""
    return rf"{{\boldmath {text}}}" if text.startswith("$") else rf"\textbf{{{text}}}"


def _cells(
    table: pd.DataFrame, target: float, tolerance: float, options: Mapping[str, Mapping[str, Any]], latex: bool
) -> tuple[pd.DataFrame, int]:
    """Formatted cells, and how many leading columns hold text (model, method, options)."""
    bold: Callable[[str], str] = _latex_bold if latex else (lambda text: f"**{text}**")
    escape: Callable[[str], str] = (lambda text: str(text).replace("_", r"\_")) if latex else str
    option_keys = sorted({key for method in table["method"] for key in options.get(method, {})})
    shown = pd.DataFrame(
        {
            "Model": table["model"].map(escape),
            "Method": [bold(escape(m)) if b else escape(m) for m, b in zip(table["method"], table["best"])],
        }
    )
    for key in option_keys:
        shown[escape(key)] = [escape(options.get(m, {}).get(key, "-")) for m in table["method"]]
    for stat, header, digits, latex_header in _columns(target, tolerance):
        values = table.apply(lambda row: _pm(row, stat, digits, latex), axis=1)
        if stat == "top1":
            values = [bold(v) if b else v for v, b in zip(values, table["best"])]
        shown[latex_header if latex else header] = list(values)
    shown["Seeds"] = table["seeds"].astype(int).to_numpy()
    return shown, 2 + len(option_keys)


def to_markdown(table: pd.DataFrame, target: float, tolerance: float, options: Mapping[str, Mapping[str, Any]] = {}) -> str:
    # tabulate would parse the formatted numbers back and print them its own way (16.4, 19.60)
    return _cells(table, target, tolerance, options, latex=False)[0].to_markdown(index=False, disable_numparse=True) + "\n"


def to_latex(table: pd.DataFrame, target: float, tolerance: float, options: Mapping[str, Mapping[str, Any]] = {}) -> str:
    """A booktabs tabular, ready to paste into a paper (needs \\usepackage{booktabs})."""
    cells, text_columns = _cells(table, target, tolerance, options, latex=True)
    spec = "l" * text_columns + "r" * (len(cells.columns) - text_columns)
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(cells.columns) + r" \\", r"\midrule"]
    previous_model = None
    for _, row in cells.iterrows():
        if previous_model is not None and row["Model"] != previous_model:
            lines.append(r"\midrule")
        previous_model = row["Model"]
        lines.append(" & ".join(str(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def write_table_files(
    table: pd.DataFrame,
    prefix: str | Path,
    title: str,
    target: float,
    tolerance: float,
    options: Mapping[str, Mapping[str, Any]] = {},
) -> None:
    """<prefix>.md and .tex (formatted), .csv and .parquet (numeric)."""
    prefix = Path(prefix)
    note = (
        f"Mean ± std over seeds; best pruned test top-1 per model in bold; choices are made on the validation "
        f"top-1 (a split held out of the training images), never on test. Max compression: the highest "
        f"compression any round reached with an accuracy drop of at most {tolerance:g} point(s)."
    )
    atomic_write_text(prefix.with_suffix(".md"), f"# {title}\n\n{to_markdown(table, target, tolerance, options)}\n{note}\n")
    atomic_write_text(prefix.with_suffix(".tex"), f"% {title}\n% {note}\n{to_latex(table, target, tolerance, options)}")
    with atomic_path(prefix.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
    write_table(table, prefix.with_suffix(".parquet"))
