"""The claims as files: <prefix>.md and .html (one line per claim, then the three tables),
.csv and .parquet (every row of the three tables, numeric, with a `claim` column)."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from weightmom.evaluation.metrics import write_table
from weightmom.provenance.atomic import atomic_path, atomic_write_text
from weightmom.reporting import html_page
from weightmom.reporting.claims import Claims


def _signed(value: float) -> str:
    """+1.23 / -1.23; a value that rounds to zero is +0.00, never -0.00."""
    return "-" if pd.isna(value) else f"{round(value, 2) + 0.0:+.2f}"


def _interval(low: float, high: float) -> str:
    return "-" if pd.isna(low) else f"[{_signed(low)}, {_signed(high)}]"


def _compression(value: float, censored: bool) -> str:
    return f"{'>= ' if censored else ''}{value:.1f}"


def summary_cells(claims: Claims) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Claim": [v.claim for v in claims.verdicts],
            "Verdict": [v.verdict for v in claims.verdicts],
            "Evidence": [v.evidence for v in claims.verdicts],
        }  # fmt: skip
    )


def accuracy_cells(claims: Claims, target: float) -> pd.DataFrame:
    c1 = claims.accuracy
    return pd.DataFrame(
        {
            "Dataset": c1["dataset"],
            "Model": c1["model"],
            "Baseline": c1["baseline"],
            f"{c1['method'].iloc[0] if len(c1) else 'WeightMom'} top-1 at {target:g}x (%)": c1["top1"].map(
                "{:.2f}".format
            ),
            "Baseline top-1 (%)": c1["baseline_top1"].map("{:.2f}".format),
            "Difference (pts)": c1["difference"].map(_signed),
            "95% CI": [_interval(lo, hi) for lo, hi in zip(c1["ci_low"], c1["ci_high"])],
            "Verdict": c1["verdict"],
            "Basis": c1["basis"],
        }
    )


def compression_cells(claims: Claims, tolerance: float) -> pd.DataFrame:
    c2 = claims.compression
    return pd.DataFrame(
        {
            "Dataset": c2["dataset"],
            "Model": c2["model"],
            "Method": [f"**{m}**" if r == "claimed" else m for m, r in zip(c2["method"], c2["role"])],
            "Dense top-1 (%)": c2["dense_top1"].map("{:.2f}".format),
            f"Compression, drop <= {tolerance:g} pt (x)": [
                _compression(v, c) for v, c in zip(c2["compression"], c2["censored"])
            ],
            "vs best baseline": [
                f"{ratio:.2f}x {best}" if best else "" for ratio, best in zip(c2["ratio_to_best"], c2["best_baseline"])
            ],
            "Verdict": c2["verdict"],
        }
    )


def coverage_cells(claims: Claims) -> pd.DataFrame:
    c3 = claims.coverage
    return pd.DataFrame(
        {
            "Paper dataset": c3["paper_dataset"],
            "Model": c3["model"],
            "Status": c3["status"],
            "Data here": c3["dataset"].replace("", "-"),
            "Protocol": c3["protocol"].replace("", "-"),
            "Methods": c3["methods"],
        }
    )


def _notes(target: float, tolerance: float) -> dict[str, str]:
    return {
        "summary": "Computed from the metric rows of this experiment; choices (the default reading) are made on "
        "validation, these numbers are test. 'Not reproduced' is a finding: the measurements contradict the claim "
        "under this protocol, which may differ from the paper's (its full text is not public).",
        "C1": f"WeightMom minus the baseline, test top-1 at {target:g}x, paired (same seed, same test images), with "
        "its 95% interval: better when the interval is above 0, worse when below, within the noise when it contains 0.",
        "C2": f"The highest compression whose drop from the dense top-1 stays within {tolerance:g} pt: the last round "
        "within it, interpolated on log compression towards the next round; '>=' when a method is still within it "
        "at the sweep's last round. Mean over seeds.",
        "C3": "The paper's grid; a JPEG copy of a dataset stands for it where noted.",
    }


def to_markdown(claims: Claims, title: str, target: float, tolerance: float) -> str:
    notes = _notes(target, tolerance)
    sections = [
        (None, summary_cells(claims), notes["summary"]),
        (f"C1: accuracy at {target:g}x", accuracy_cells(claims, target), notes["C1"]),
        (f"C2: compression at equal degradation ({tolerance:g} pt)", compression_cells(claims, tolerance), notes["C2"]),
        ("C3: coverage of the paper's grid", coverage_cells(claims), notes["C3"]),
    ]
    lines = [f"# {title}", ""]
    for heading, cells, note in sections:
        if heading:
            lines += [f"## {heading}", ""]
        lines += [cells.to_markdown(index=False, disable_numparse=True) if len(cells) else "(no rows)", "", note, ""]
    return "\n".join(lines)


def to_html(claims: Claims, title: str, target: float, tolerance: float) -> str:
    notes = _notes(target, tolerance)
    parts = [html_page.table(summary_cells(claims), "prose"), html_page.paragraph(notes["summary"])]
    for heading, cells, note in [
        (f"C1: accuracy at {target:g}x", accuracy_cells(claims, target), notes["C1"]),
        (f"C2: compression at equal degradation ({tolerance:g} pt)", compression_cells(claims, tolerance), notes["C2"]),
        ("C3: coverage of the paper's grid", coverage_cells(claims), notes["C3"]),
    ]:
        parts += [f"<h4>{html.escape(heading)}</h4>", html_page.table(cells), html_page.paragraph(note)]
    return html_page.page(title, parts)


def rows(claims: Claims) -> pd.DataFrame:
    """Every row of the three tables and the verdicts, one frame with a `claim` column."""
    verdicts = pd.DataFrame([vars(v) for v in claims.verdicts]).rename(columns={"claim": "statement"})
    return pd.concat(
        [
            verdicts.assign(claim="verdict"),
            claims.accuracy.assign(claim="C1"),
            claims.compression.assign(claim="C2"),
            claims.coverage.assign(claim="C3"),
        ],
        ignore_index=True,
    ).assign(verdict=lambda frame: frame["verdict"].fillna("").astype(str))


def write_claims_files(claims: Claims, prefix: str | Path, title: str, target: float, tolerance: float) -> None:
    prefix = Path(prefix)
    atomic_write_text(prefix.with_suffix(".md"), to_markdown(claims, title, target, tolerance))
    atomic_write_text(prefix.with_suffix(".html"), to_html(claims, title, target, tolerance))
    frame = rows(claims)
    with atomic_path(prefix.with_suffix(".csv")) as tmp:
        frame.to_csv(tmp, index=False)
    write_table(frame, prefix.with_suffix(".parquet"))
