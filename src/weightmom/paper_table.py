"""The experiment's table in the paper's shape: methods down, (dataset, network) cells across.

Per cell and method: test top-1 at the target compression, mean ± std over seeds (the
round nearest the target, weightmom.tables.at_target), and on a second line the highest
compression whose top-1 stays within the claims' tolerance of the dense network's
(weightmom.claims.compression_within: interpolated on log compression, ">=" when the run's
last round is still within it). The dense network heads the table; the best pruned value
of each column is in bold; the method the claims check (the default WeightMom) is marked †.
Written as .md, .html (for the report) and .tex (booktabs; the tabular shrinks to the column width when wider, so up
to six cells fit one column of a two-column paper). The wide tables of each config table
(weightmom.tables) keep every statistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from weightmom import html_page
from weightmom.atomic import atomic_write_text
from weightmom.claims import compression_within
from weightmom.lineage import DENSE
from weightmom.tables import AGREE, at_target, no_spread, with_drop

KEYS = ["dataset", "model", "method", "seed"]
MARK = "†"


def paper_table(
    frame: pd.DataFrame,
    cells: Sequence[tuple[str, str]],
    methods: Sequence[str],
    target: float,
    tolerance: float,
    last_round: int,
) -> pd.DataFrame:
    """One row per (cell, method), the dense network as method `dense`: top-1 mean, std and
    seeds at the target, and the compression within `tolerance` (mean over seeds, censored
    when any seed's last round is within it)."""
    wanted = pd.MultiIndex.from_tuples(cells, names=["dataset", "model"])
    rows = with_drop(frame[frame["method"].isin(methods)], KEYS)
    rows = rows[pd.MultiIndex.from_frame(rows[["dataset", "model"]]).isin(wanted)]
    target_rows = at_target(rows, target, KEYS).assign(top1=lambda r: 100 * r["top1"])
    dense = rows[rows["round"] == 0].drop_duplicates(["dataset", "model", "seed"])
    dense = dense.assign(method=DENSE, top1=100 * dense["top1"])
    within = [
        dict(zip(KEYS, key), compression=value, censored=censored)
        for key, run in rows.groupby(KEYS)
        for value, censored in [compression_within(run, tolerance, last_round)]
    ]
    per_seed = pd.concat([target_rows, dense])[KEYS + ["top1"]].merge(
        pd.DataFrame(within, columns=[*KEYS, "compression", "censored"]), on=KEYS, how="left"
    )
    table = (
        per_seed.groupby(["dataset", "model", "method"])
        .agg(
            top1_mean=("top1", "mean"),
            top1_std=("top1", "std"),
            seeds=("seed", "nunique"),
            compression=("compression", "mean"),
            censored=("censored", "any"),
        )
        .reset_index()
    )
    table.loc[table["method"] == DENSE, ["compression", "censored"]] = [np.nan, False]
    return table


def _top1(row: pd.Series, latex: bool) -> str:
    text = f"{row['top1_mean']:.2f}"
    if pd.isna(row["top1_std"]):
        return text
    if row["top1_std"] <= AGREE:
        return f"{text} ({no_spread(int(row['seeds']))})"
    return rf"{text} $\pm$ {row['top1_std']:.2f}" if latex else f"{text} ± {row['top1_std']:.2f}"


def _compression(row: pd.Series, latex: bool) -> str:
    if pd.isna(row["compression"]):
        return "-"
    sign = (r"$\geq$" if latex else "≥") if row["censored"] else ""
    return f"{sign}{row['compression']:.1f}" + (r"$\times$" if latex else "x")


def _bold(text: str, latex: bool) -> str:
    return rf"\textbf{{{text}}}" if latex else f"**{text}**"


def _grid(
    table: pd.DataFrame,
    cells: Sequence[tuple[str, str]],
    methods: Sequence[str],
    claimed: str,
    tolerance: float,
    latex: bool,
) -> list[list[str]]:
    """Rows of cell texts: the dense row, then per method its top-1 row and its compression
    row; the best pruned value of each column in bold."""
    indexed = table.set_index(["dataset", "model", "method"])
    pruned = table[table["method"] != DENSE]
    best_top1 = pruned.groupby(["dataset", "model"])["top1_mean"].max()
    best_compression = pruned.groupby(["dataset", "model"])["compression"].max()
    escape = (lambda text: text.replace("_", r"\_")) if latex else (lambda text: text)

    def row_for(method: str, value) -> list[str]:
        texts = []
        for cell in cells:
            key = (*cell, method)
            if key not in indexed.index:
                texts.append("-")
                continue
            texts.append(value(indexed.loc[key], cell))
        return texts

    def top1(row: pd.Series, cell) -> str:
        text = _top1(row, latex)
        return _bold(text, latex) if row.name[2] != DENSE and row["top1_mean"] == best_top1[cell] else text

    def compression(row: pd.Series, cell) -> str:
        text = _compression(row, latex)
        return _bold(text, latex) if row["compression"] == best_compression[cell] else text

    grid = [["Dense", *row_for(DENSE, top1)]]
    for method in methods:
        name = escape(method) + (f" {MARK}" if method == claimed else "")
        grid.append([name, *row_for(method, top1)])
        within = (
            rf"\quad{{\footnotesize compression, drop $\leq$ {tolerance:g} pt}}"
            if latex
            else f"  ↳ compression, drop ≤ {tolerance:g} pt"
        )
        grid.append([within, *row_for(method, compression)])
    return grid


def to_markdown(
    table: pd.DataFrame, cells: Sequence[tuple[str, str]], methods: Sequence[str], claimed: str, tolerance: float
) -> str:
    header = ["Method", *(f"{dataset} / {model}" for dataset, model in cells)]
    lines = ["| " + " | ".join(header) + " |", "|:--" + "|--:" * len(cells) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in _grid(table, cells, methods, claimed, tolerance, latex=False)]
    return "\n".join(lines) + "\n"


def to_html(
    table: pd.DataFrame,
    cells: Sequence[tuple[str, str]],
    methods: Sequence[str],
    claimed: str,
    tolerance: float,
    title: str,
    text: str,
) -> str:
    """The Markdown table's cells as a standalone HTML page (what the Snakemake report shows),
    a method's compression on a second line of its top-1 cell: half the rows, for the report's
    first screen."""
    header = ["Method", *(f"{dataset}\n{model}" for dataset, model in cells)]
    grid = _grid(table, cells, methods, claimed, tolerance, latex=False)
    rows = [grid[0]] + [
        [name, *(f"{top1}\n{compression}" for top1, compression in zip(values, below[1:]))]
        for (name, *values), below in zip(grid[1::2], grid[2::2])
    ]
    return html_page.page(title, [html_page.rows_table(header, rows), html_page.paragraph(text)])


def to_latex(
    table: pd.DataFrame, cells: Sequence[tuple[str, str]], methods: Sequence[str], claimed: str, tolerance: float
) -> str:
    """A booktabs tabular, datasets over networks, shrunk to the column width when wider."""
    escape = lambda text: text.replace("_", r"\_")  # noqa: E731
    datasets: list[tuple[str, int]] = []
    for dataset, _ in cells:
        if datasets and datasets[-1][0] == dataset:
            datasets[-1] = (dataset, datasets[-1][1] + 1)
        else:
            datasets.append((dataset, 1))
    spans, rules, column = [], [], 2
    for dataset, count in datasets:
        spans.append(rf"\multicolumn{{{count}}}{{c}}{{{escape(dataset)}}}")
        rules.append(rf"\cmidrule(lr){{{column}-{column + count - 1}}}")
        column += count
    body = [" & ".join(row) + r" \\" for row in _grid(table, cells, methods, claimed, tolerance, latex=True)]
    lines = [
        r"\resizebox{\ifdim\width>\columnwidth\columnwidth\else\width\fi}{!}{%",
        r"\begin{tabular}{l" + "r" * len(cells) + "}",
        r"\toprule",
        " & " + " & ".join(spans) + r" \\",
        " ".join(rules),
        "Method & " + " & ".join(escape(model) for _, model in cells) + r" \\",
        r"\midrule",
        *body[:1],
        r"\midrule",
        *body[1:],
        r"\bottomrule",
        r"\end{tabular}}%",
    ]
    return "\n".join(lines) + "\n"


def note(target: float, tolerance: float, claimed: str) -> str:
    return (
        f"Test top-1 (%) at {target:g}x compression, mean ± std over seeds ('no spread over N seeds' where every "
        f"seed gave the same value); below each method, the highest compression whose top-1 stays within "
        f"{tolerance:g} point(s) of the dense network's (interpolated between rounds on log compression; ≥ when the "
        f"last round is still within it). Best pruned value per column in bold; {MARK} {claimed}, the WeightMom "
        f"configuration the claims check. Methods are chosen on the validation split, reported on test."
    )


def write_paper_table(
    table: pd.DataFrame,
    cells: Sequence[tuple[str, str]],
    methods: Sequence[str],
    claimed: str,
    prefix: str | Path,
    title: str,
    target: float,
    tolerance: float,
) -> None:
    """<prefix>.md (title, table, note), <prefix>.html (the same, for the report) and
    <prefix>.tex (the tabular; the note as a comment for the caption)."""
    prefix = Path(prefix)
    text = note(target, tolerance, claimed)
    atomic_write_text(
        prefix.with_suffix(".md"), f"# {title}\n\n{to_markdown(table, cells, methods, claimed, tolerance)}\n{text}\n"
    )
    atomic_write_text(prefix.with_suffix(".html"), to_html(table, cells, methods, claimed, tolerance, title, text))
    latex_note = text.replace("±", r"$\pm$").replace("≥", r"$\geq$").replace(MARK, r"\dag")
    atomic_write_text(
        prefix.with_suffix(".tex"),
        f"% {title}\n% Caption: {latex_note}\n"
        + to_latex(table, cells, methods, claimed, tolerance).replace(MARK, r"\dag"),
    )
