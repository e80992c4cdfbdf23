"""The experiment's table in the paper's shape: methods down, (dataset, network) cells across.

Per cell and method: test top-1 at the target compression, mean ± std over seeds (the
round nearest the target, weightmom.reporting.tables.at_target), and on a second line the highest
compression whose top-1 stays within the claims' tolerance of the dense network's
(weightmom.reporting.claims.compression_within: interpolated on log compression, ">=" when the run's
last round is still within it). The dense network heads the table; the best pruned value
of each column is in bold; the method the claims check (the default WeightMom) is marked †.
Written as .md, .html (for the report) and .tex (booktabs; the tabular shrinks to the column width when wider, so up
to six cells fit one column of a two-column paper). The wide tables of each config table
(weightmom.reporting.tables) keep every statistic.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from weightmom.lineage import DENSE
from weightmom.provenance.atomic import atomic_write_text
from weightmom.reporting import html_page
from weightmom.reporting.claims import compression_within
from weightmom.reporting.tables import AGREE, at_target, no_spread, with_drop

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


def _spread(row: pd.Series, latex: bool) -> str:
    """± std; "" for one seed; "no spread over N seeds" ("no spread" in LaTeX) when they agree."""
    if pd.isna(row["top1_std"]):
        return ""
    if row["top1_std"] <= AGREE:
        return "no spread" if latex else no_spread(int(row["seeds"]))
    return rf"$\pm${row['top1_std']:.2f}" if latex else f"± {row['top1_std']:.2f}"


def _top1(row: pd.Series, latex: bool) -> str:
    """The Markdown cell: mean ± std; the LaTeX one: the mean alone (the spread goes below)."""
    text, spread = f"{row['top1_mean']:.2f}", _spread(row, latex)
    if latex or not spread:
        return text
    return f"{text} ({spread})" if row["top1_std"] <= AGREE else f"{text} {spread}"


def _compression(row: pd.Series, latex: bool) -> str:
    if pd.isna(row["compression"]):
        return "-"
    sign = (r"$\geq$" if latex else "≥") if row["censored"] else ""
    return f"{sign}{row['compression']:.1f}" + (r"$\times$" if latex else "x")


def _bold(text: str, latex: bool) -> str:
    return rf"\textbf{{{text}}}" if latex else f"**{text}**"


def _escape(text: str, latex: bool) -> str:
    return text.replace("_", r"\_") if latex else text


def _grid(
    table: pd.DataFrame,
    cells: Sequence[tuple[str, str]],
    methods: Sequence[str],
    claimed: str,
    tolerance: float,
    latex: bool,
) -> list[list[str]]:
    """Rows of cell texts: the dense row, then per method its top-1 row and the row below it
    (Markdown: the compression within `tolerance`; LaTeX, to fit a column: the spread and that
    compression, small); the best pruned value of each column in bold."""
    indexed = table.set_index(["dataset", "model", "method"])
    pruned = table[table["method"] != DENSE]
    best_top1 = pruned.groupby(["dataset", "model"])["top1_mean"].max()
    best_compression = pruned.groupby(["dataset", "model"])["compression"].max()

    def row_for(method: str, value) -> list[str]:
        return [
            value(indexed.loc[(*cell, method)], cell) if (*cell, method) in indexed.index else "-" for cell in cells
        ]

    def top1(row: pd.Series, cell) -> str:
        text = _top1(row, latex)
        return _bold(text, latex) if row.name[2] != DENSE and row["top1_mean"] == best_top1[cell] else text

    def compression(row: pd.Series, cell) -> str:
        text = _compression(row, latex)
        return _bold(text, latex) if row["compression"] == best_compression[cell] else text

    def below(row: pd.Series, cell) -> str:
        parts = [_spread(row, latex)] + ([compression(row, cell)] if row.name[2] != DENSE else [])
        return rf"{{\scriptsize {', '.join(part for part in parts if part)}}}"

    if latex:
        grid = [["Dense", *row_for(DENSE, top1)], ["", *row_for(DENSE, below)]]
        label = ""  # the caption says what the small line is: a label would widen the column
    else:
        grid = [["Dense", *row_for(DENSE, top1)]]
        label = f"  ↳ compression, drop ≤ {tolerance:g} pt"
    for method in methods:
        grid.append([_escape(method, latex) + (f" {MARK}" if method == claimed else ""), *row_for(method, top1)])
        grid.append([label, *row_for(method, below if latex else compression)])
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
    datasets: list[tuple[str, int]] = []
    for dataset, _ in cells:
        if datasets and datasets[-1][0] == dataset:
            datasets[-1] = (dataset, datasets[-1][1] + 1)
        else:
            datasets.append((dataset, 1))
    spans, rules, column = [], [], 2
    for dataset, count in datasets:
        spans.append(rf"\multicolumn{{{count}}}{{c}}{{{_escape(dataset, True)}}}")
        rules.append(rf"\cmidrule(lr){{{column}-{column + count - 1}}}")
        column += count
    body = [" & ".join(row) + r" \\" for row in _grid(table, cells, methods, claimed, tolerance, latex=True)]
    lines = [
        r"\resizebox{\ifdim\width>\columnwidth\columnwidth\else\width\fi}{!}{%",
        r"\footnotesize\setlength{\tabcolsep}{3pt}%",
        r"\begin{tabular}{l" + "r" * len(cells) + "}",
        r"\toprule",
        " & " + " & ".join(spans) + r" \\",
        " ".join(rules),
        "Method & " + " & ".join(_escape(model, True) for _, model in cells) + r" \\",
        r"\midrule",
        *body[:2],
        r"\midrule",
        *body[2:],
        r"\bottomrule",
        r"\end{tabular}}%",
    ]
    return "\n".join(lines) + "\n"


def note(target: float, tolerance: float, claimed: str, methods: Sequence[str], latex: bool = False) -> str:
    """What the table shows; the LaTeX table puts the spread on the small line below the mean."""
    below = "± std over seeds and " if latex else ""
    spread = "" if latex else " mean ± std over seeds ('no spread over N seeds' where every seed gave the same value);"
    mark = f" {MARK} {claimed}, the WeightMom configuration the claims check." if claimed in methods else ""
    return (
        f"Test top-1 (%) at {target:g}x compression,{' mean over seeds;' if latex else spread} below each method, "
        f"{'in small type, ' if latex else ''}{below}the highest compression whose top-1 stays within {tolerance:g} "
        f"point(s) of the dense network's (interpolated between rounds on log compression; ≥ when the last round is "
        f"still within it). Best pruned value per column in bold.{mark} Methods are chosen on the validation split, "
        f"reported on test."
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
    text = note(target, tolerance, claimed, methods)
    atomic_write_text(
        prefix.with_suffix(".md"), f"# {title}\n\n{to_markdown(table, cells, methods, claimed, tolerance)}\n{text}\n"
    )
    atomic_write_text(prefix.with_suffix(".html"), to_html(table, cells, methods, claimed, tolerance, title, text))
    latex_note = note(target, tolerance, claimed, methods, latex=True)
    latex_note = latex_note.replace("±", r"$\pm$").replace("≥", r"$\geq$").replace(MARK, r"\dag")
    atomic_write_text(
        prefix.with_suffix(".tex"),
        f"% {title}\n% Caption: {latex_note}\n"
        + to_latex(table, cells, methods, claimed, tolerance).replace(MARK, r"\dag"),
    )
