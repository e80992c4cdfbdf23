"""Paper tables: rows model x method, accuracy and cost at the target compression.

Top-1 is on the test split (what the paper reports); the validation top-1 beside it is
what choices are made on. Top-1 values are percentages; mean and sample standard
deviation are over seeds. The best method per model (highest pruned test top-1) is bold.

Uncertainty (scipy.stats): a 95% t-interval of the mean top-1 over seeds, and for every
method its paired difference to the reference method (WeightMom when the table has it,
else its first method): over seeds, the mean difference of the same seed's two runs with
its 95% t-interval; with a single seed, a paired percentile bootstrap over the test
images (both networks' predictions on the same images). No interval is ever shown that
the method did not give: where seeds agree exactly the text says "no spread over N seeds"
(not "± 0.00" or [x, x]), and a t-interval that leaves the scale (below 0 or above 100 %
for top-1) is "n/a" with the reason, never clipped; the numeric files hold NaN bounds and
the reason in a `*_note` column. Written as .md, .tex (booktabs), .csv and .parquet; the
last two are numeric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from weightmom.evaluation.metrics import write_table
from weightmom.provenance.atomic import atomic_path, atomic_write_text
from weightmom.reporting import html_page

STATS = ["dense_top1", "top1", "val_top1", "drop", "compression", "flops_reduction", "max_compression"]
REFERENCE = "weightmom"
CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 4000
# The statistics measured on images, whose agreement over seeds is a finding (the others,
# compressions and FLOPs, agree by construction).
ACCURACY_STATS = {"dense_top1", "top1", "val_top1", "drop"}
# What a top-1 (percent) and a difference of two top-1s (points) can be.
TOP1_SCALE = (0.0, 100.0)
DIFFERENCE_SCALE = (-100.0, 100.0)


#: Values this close agree (percent or points): stats.sem of equal values can be 1e-17, and two
#: differences of equal top-1 changes can differ in their last bit.
AGREE = 1e-9


def no_spread(count: int, unit: str = "seeds") -> str:
    """What stands for a std or an interval when all `count` values agree exactly: "± 0.00"
    or a zero-width interval would read as a certainty that a few agreeing seeds do not give."""
    return f"no spread over {count} {unit}"


def mean_interval(values: Sequence[float], scale: tuple[float, float]) -> tuple[float, float, str]:
    """(low, high, note): the 95% t-interval of the mean of `values` (one per seed), or NaNs
    and why not. No note for fewer than two values; "no spread over N seeds" when they all
    agree (the t-interval has zero width: no evidence of precision, only of too few seeds);
    "n/a" when the interval reaches outside `scale`, the values' possible range. There the
    normal approximation behind it visibly fails (few seeds near a bound), and clipping it
    would present a range no method gave as a 95% CI. A logit-scale interval would stay in
    range, but is undefined for a seed at 0 or 100 % and is an interval for another centre
    than the mean shown; with so few seeds saying "n/a" is the honest answer."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float("nan"), float("nan"), ""
    if np.ptp(values) <= AGREE:
        return float("nan"), float("nan"), no_spread(len(values))
    low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=values.mean(), scale=stats.sem(values))
    if low < scale[0] or high > scale[1]:
        why = f"n/a: t-interval leaves {scale[0]:g} to {scale[1]:g} with {len(values)} seeds"
        return float("nan"), float("nan"), why
    return float(low), float(high), ""


def paired_bootstrap(correct: np.ndarray, reference: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the top-1 difference (points) of two networks
    judged on the same images (`correct`, `reference`: one bool per image, same order)."""
    if np.array_equal(correct, reference):
        return 0.0, 0.0
    result = stats.bootstrap(
        (correct.astype(float), reference.astype(float)),
        lambda a, b, axis: (a.mean(axis=axis) - b.mean(axis=axis)) * 100,
        paired=True,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        confidence_level=CONFIDENCE,
        random_state=seed,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _correct_on_test(
    predictions: pd.DataFrame | None, model: str, method: str, seed: int, round_index: int
) -> np.ndarray | None:
    if predictions is None:
        return None
    rows = predictions[
        (predictions["model"] == model)
        & (predictions["method"] == method)
        & (predictions["seed"] == seed)
        & (predictions["round"] == round_index)
    ].sort_values("index")
    return (rows["predicted"] == rows["label"]).to_numpy() if len(rows) else None


def paired_differences(
    finals: pd.DataFrame, methods: Sequence[str], predictions: pd.DataFrame | None, reference: str | None = None
) -> pd.DataFrame:
    """Per (model, method): test top-1 minus the reference method's, paired by seed, its 95%
    interval, the interval's basis and, where it has no interval, why (`diff_note`, as in
    mean_interval; a bootstrap with no spread is two networks that differ alike on every test
    image). The reference is `reference`, else WeightMom when the methods have it, else the first."""
    reference = reference or (REFERENCE if REFERENCE in methods else methods[0])
    rows = []
    for model, per_model in finals.groupby("model"):
        ref = per_model[per_model["method"] == reference].set_index("seed")
        for method, runs in per_model.groupby("method"):
            runs = runs.set_index("seed")
            seeds = sorted(set(runs.index) & set(ref.index))
            row = {
                "model": model,
                "method": method,
                "reference": reference,
                "diff_mean": np.nan,
                "diff_ci_low": np.nan,
                "diff_ci_high": np.nan,
                "diff_basis": "",
                "diff_note": "",
            }
            if method != reference and seeds:
                diffs = (runs.loc[seeds, "top1"] - ref.loc[seeds, "top1"]).to_numpy()
                row["diff_mean"] = float(diffs.mean())
                if len(seeds) >= 2:
                    row["diff_ci_low"], row["diff_ci_high"], row["diff_note"] = mean_interval(diffs, DIFFERENCE_SCALE)
                    row["diff_basis"] = f"paired t over {len(seeds)} seeds"
                else:
                    seed = seeds[0]
                    mine = _correct_on_test(predictions, model, method, seed, int(runs.loc[seed, "round"]))
                    theirs = _correct_on_test(predictions, model, reference, seed, int(ref.loc[seed, "round"]))
                    if mine is not None and theirs is not None and len(mine) == len(theirs):
                        low, high = paired_bootstrap(mine, theirs, seed)
                        if low == high:
                            row["diff_note"] = no_spread(len(mine), "test images")
                        else:
                            row["diff_ci_low"], row["diff_ci_high"] = low, high
                        row["diff_basis"] = f"paired bootstrap over {len(mine)} test images"
            rows.append(row)
    return pd.DataFrame(rows)


def at_target(rows: pd.DataFrame, target_compression: float | None, keys: Sequence[str]) -> pd.DataFrame:
    """Per `keys`, the pruned round at the target compression: the one whose compression is
    nearest to it on a log scale (schedules reach it to one weight; a sweep goes on past
    it), or the last round without a target."""
    pruned = rows[rows["round"] > 0]
    if target_compression is None:
        distance = -pruned["round"].astype(float)
    else:
        distance = (np.log(pruned["compression_ratio"]) - np.log(target_compression)).abs()
    return pruned.loc[distance.groupby([pruned[k] for k in keys]).idxmin()]


def with_drop(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """`frame` with `dense_top1` (points: round 0 of the same `keys`) and `drop`, the
    points of top-1 each row lost against it."""
    dense = frame[frame["round"] == 0].set_index(keys)["top1"].rename("dense_top1") * 100
    rows = frame.join(dense, on=keys)
    return rows.assign(drop=rows["dense_top1"] - rows["top1"] * 100)


def per_seed_final(frame: pd.DataFrame, tolerance: float, target_compression: float | None = None) -> pd.DataFrame:
    """Per (model, method, seed): dense top-1, the numbers of the round at the target
    compression, and the highest compression any round reached with a drop of at most
    `tolerance` points."""
    keys = ["model", "method", "seed"]
    rows = with_drop(frame, keys)
    within = rows[rows["drop"] <= tolerance + 1e-9].groupby(keys)["compression_ratio"].max()
    last = at_target(rows, target_compression, keys).set_index(keys)
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
    frame: pd.DataFrame,
    models: Sequence[str],
    methods: Sequence[str],
    tolerance: float,
    predictions: pd.DataFrame | None = None,
    target_compression: float | None = None,
) -> pd.DataFrame:
    """Mean and std over seeds per (model, method) at the target compression, the top-1
    interval (NaN bounds and `top1_ci_note` where there is none: mean_interval) and the
    paired difference to the reference method; rows in the given order."""
    finals = per_seed_final(frame, tolerance, target_compression)
    grouped = finals.groupby(["model", "method"])
    table = grouped[STATS].agg(["mean", "std"])
    table.columns = [f"{stat}_{agg}" for stat, agg in table.columns]
    table["seeds"] = grouped["seed"].nunique()
    table["round"] = grouped["round"].max()
    intervals = grouped["top1"].apply(lambda values: mean_interval(values.to_numpy(), TOP1_SCALE))
    table["top1_ci_low"], table["top1_ci_high"], table["top1_ci_note"] = (intervals.str[i] for i in range(3))
    table = table.join(paired_differences(finals, methods, predictions).set_index(["model", "method"]))
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
        (
            "max_compression",
            f"Max compression, drop <= {tolerance:g} pt (x)",
            1,
            rf"Max comp., drop $\le$ {tolerance:g} ($\times$)",
        ),
    ]


def _pm(row: pd.Series, stat: str, digits: int, latex: bool) -> str:
    """mean ± std; the mean alone when there is one seed, and for an accuracy whose seeds
    agree exactly "no spread over N seeds" beside it (groupby's std of equal values is exactly
    0). A compression that every seed reaches alike is so by construction: the mean alone."""
    mean, std = f"{row[f'{stat}_mean']:.{digits}f}", row[f"{stat}_std"]
    if pd.isna(std) or (std <= AGREE and stat not in ACCURACY_STATS):
        return _math(mean, latex)
    if std <= AGREE:
        return f"{_math(mean, latex)} ({no_spread(int(row['seeds']))})"
    return _math(rf"{mean} \pm {std:.{digits}f}" if latex else f"{mean} ± {std:.{digits}f}", latex)


def _math(text: str, latex: bool) -> str:
    return f"${text}$" if latex else text


def _latex_bold(text: str) -> str:
    """Bold in LaTeX: \\textbf does not reach inside math, so a $...$ cell goes under \\boldmath."""
    return rf"{{\boldmath {text}}}" if text.startswith("$") else rf"\textbf{{{text}}}"


def _interval(low: float, high: float, note: str, latex: bool) -> str:
    """[low, high]; else why there is none (mean_interval's note), or "-" (one seed)."""
    if pd.isna(low):
        return note or "-"
    return _math(f"[{low:.2f}, {high:.2f}]", latex)


def _difference(row: pd.Series, latex: bool) -> str:
    """The paired difference to the reference and its interval, or why it has none;
    'reference' on its own row."""
    if row["method"] == row["reference"]:
        return "reference"
    if pd.isna(row["diff_mean"]):
        return "-"
    text = f"{row['diff_mean']:+.2f}"
    if row["diff_note"]:
        return f"{_math(text, latex)} ({row['diff_note']})"
    if not pd.isna(row["diff_ci_low"]):
        text += f" [{row['diff_ci_low']:+.2f}, {row['diff_ci_high']:+.2f}]"
    return _math(text, latex)


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
        values = table.apply(lambda row, stat=stat, digits=digits: _pm(row, stat, digits, latex), axis=1)
        if stat == "top1":
            values = [bold(v) if b else v for v, b in zip(values, table["best"])]
        shown[latex_header if latex else header] = list(values)
        if stat == "top1":
            reference = escape(table["reference"].dropna().iloc[0]) if table["reference"].notna().any() else "-"
            shown[r"Top-1 95\% CI" if latex else "Top-1 95% CI"] = [
                _interval(low, high, note, latex)
                for low, high, note in zip(table["top1_ci_low"], table["top1_ci_high"], table["top1_ci_note"])
            ]
            shown[rf"$\Delta$ vs {reference} (pts)" if latex else f"vs {reference} (pts, 95% CI)"] = [
                _difference(row, latex) for _, row in table.iterrows()
            ]
    shown["Seeds"] = table["seeds"].astype(int).to_numpy()
    return shown, 2 + len(option_keys)


def to_html(
    table: pd.DataFrame,
    title: str,
    note: str,
    target: float,
    tolerance: float,
    options: Mapping[str, Mapping[str, Any]] = {},
) -> str:
    """The Markdown table's cells as a standalone HTML page (what the Snakemake report shows)."""
    cells = _cells(table, target, tolerance, options, latex=False)[0]
    return html_page.page(title, [html_page.table(cells, "wide"), html_page.paragraph(note)])


def to_markdown(
    table: pd.DataFrame, target: float, tolerance: float, options: Mapping[str, Mapping[str, Any]] = {}
) -> str:
    # tabulate would parse the formatted numbers back and print them its own way (16.4, 19.60)
    return (
        _cells(table, target, tolerance, options, latex=False)[0].to_markdown(index=False, disable_numparse=True) + "\n"
    )


def to_latex(
    table: pd.DataFrame, target: float, tolerance: float, options: Mapping[str, Mapping[str, Any]] = {}
) -> str:
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
    collapsed: pd.DataFrame | None = None,
) -> None:
    """<prefix>.md, .tex and .html (formatted), .csv and .parquet (numeric); `collapsed`: the
    metric rows of the table's rounds that left a layer with no weight, named in the note."""
    prefix = Path(prefix)
    bases = sorted(set(table["diff_basis"].dropna()) - {""})
    note = (
        f"Mean ± std over seeds ('no spread over N seeds' where every seed gave the same value: then there is no "
        f"interval either); best pruned test top-1 per model in bold; choices are made on the validation "
        f"top-1 (a split held out of the training images), never on test. Top-1 95% CI: t-interval of the mean "
        f"over seeds (needs two seeds or more); one that reaches below 0 or above 100% is no valid interval on "
        f"that scale and shows as n/a, never clipped. vs reference: the test top-1 difference to the reference "
        f"method, paired (same seed, same test images), with its 95% interval ({'; '.join(bases) or 'none computed'}); "
        f"an interval that contains 0 means the difference is within the noise. Max compression: the highest "
        f"compression any round reached with an accuracy drop of at most {tolerance:g} point(s)."
    ) + _collapsed_note(collapsed)
    atomic_write_text(
        prefix.with_suffix(".md"), f"# {title}\n\n{to_markdown(table, target, tolerance, options)}\n{note}\n"
    )
    atomic_write_text(prefix.with_suffix(".tex"), f"% {title}\n% {note}\n{to_latex(table, target, tolerance, options)}")
    atomic_write_text(prefix.with_suffix(".html"), to_html(table, title, note, target, tolerance, options))
    with atomic_path(prefix.with_suffix(".csv")) as tmp:
        table.to_csv(tmp, index=False)
    write_table(table, prefix.with_suffix(".parquet"))


def _collapsed_note(collapsed: pd.DataFrame | None) -> str:
    """The note's sentence naming each run whose round in the table left layers with no
    weight (metric rows' collapsed_layers): no signal passes through such a layer, so the
    row's top-1 is a broken network's, not the method's at that compression. Empty without any."""
    if collapsed is None or collapsed.empty:
        return ""
    runs = "; ".join(
        f"{row.method} on {row.model}, seed {row.seed} round {row.round}: {row.collapsed_layers} layer(s)"
        for row in collapsed.sort_values(["model", "method", "seed"]).itertuples()
    )
    return f" Collapsed layers (no weight kept, so no signal passes; `weightmom show` names them): {runs}."
