"""The paper-shaped table: methods down, (dataset, network) cells across, from hand-made rows."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from weightmom.evaluation.metrics import METRIC_SCHEMA, write_rows
from weightmom.reporting import reports

from helpers import metric_row

# Per seed: dense top-1, then (compression, top-1) of rounds 1 and 2 for each method.
RUNS = {
    ("toy", "net"): {"dense": (0.90, 0.92), "wm": ((4, 0.895, 0.915), (15, 0.88, 0.90)), "mag": ((4, 0.85, 0.87), (15, 0.80, 0.82))},
    ("toy", "deep"): {"dense": (0.70, 0.70), "wm": ((4, 0.70, 0.70), (15, 0.695, 0.695)), "mag": ((4, 0.70, 0.70), (15, 0.69, 0.69))},
}  # fmt: skip


def _rows(tmp_path, runs=RUNS):
    paths = []
    for (dataset, model), methods in runs.items():
        rows = [
            {**metric_row(model, "dense", seed, 0, top1, 1.0), "dataset": dataset}
            for seed, top1 in enumerate(methods["dense"])
        ]
        for method in ("wm", "mag"):
            for index, (compression, *per_seed) in enumerate(methods[method], start=1):
                rows += [
                    {**metric_row(model, method, seed, index, top1, compression), "dataset": dataset}
                    for seed, top1 in enumerate(per_seed)
                ]
        for i, row in enumerate(rows):
            path = tmp_path / f"rows/{dataset}-{model}-{i}.parquet"
            write_rows([row], METRIC_SCHEMA, path)
            paths.append(path)
    return paths


def _write(tmp_path, cells=(("toy", "net"), ("toy", "deep")), runs=RUNS):
    reports.make_paper_table(
        title="Toy",
        cells=[list(cell) for cell in cells],
        methods=["wm", "mag"],
        claimed="wm",
        target_compression=15,
        tolerance=1.0,
        last_round=2,
        metric_rows=_rows(tmp_path, runs),
        out_prefix=tmp_path / "t/paper",
    )
    return tmp_path / "t/paper"


def _cells(markdown: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("|")[1:-1]] for line in markdown.splitlines() if line.startswith("| ")]


def test_methods_down_cells_across_with_the_compression_within_the_tolerance_below(tmp_path):
    prefix = _write(tmp_path)
    rows = _cells(prefix.with_suffix(".md").read_text())
    assert rows[0] == ["Method", "toy / net", "toy / deep"]
    assert rows[1] == ["Dense", "91.00 ± 1.41", "70.00 (no spread over 2 seeds)"]
    assert rows[2] == ["wm †", "**89.00 ± 1.41**", "**69.50 (no spread over 2 seeds)**"]
    # net, wm: drop 0.5 at 4x, 2.0 at 15x: within 1 pt up to 4 x (15/4)^(0.5/1.5) = 6.2x; deep: 15x, censored
    assert rows[3] == ["↳ compression, drop ≤ 1 pt", "**6.2x**", "**≥15.0x**"]
    assert rows[4] == ["mag", "81.00 ± 1.41", "69.00 (no spread over 2 seeds)"]
    assert rows[5] == ["↳ compression, drop ≤ 1 pt", "1.3x", "**≥15.0x**"]  # 5 pts at 4x: 4^(1/5)
    html = prefix.with_suffix(".html").read_text()
    assert "<th>toy<br>net</th>" in html and "<td><b>89.00 ± 1.41</b><br><b>6.2x</b></td>" in html


def test_a_cell_a_method_did_not_run_shows_a_dash(tmp_path):
    prefix = _write(tmp_path, cells=(("toy", "net"), ("toy", "wide")))
    rows = _cells(prefix.with_suffix(".md").read_text())
    assert rows[0][2] == "toy / wide" and all(row[2] == "-" for row in rows[1:])


SIX_CELLS = {
    (dataset, model): RUNS[("toy", "net")] for dataset in ("cifar10", "cifar100") for model in ("alexnet", "vgg16_bn", "resnet50")
}  # fmt: skip


@pytest.mark.skipif(
    shutil.which("pdflatex") is None, reason="no pdflatex here (apt-get install texlive-latex-recommended)"
)
def test_the_latex_table_of_six_cells_compiles_and_fits_one_column_of_a_two_column_paper(tmp_path):
    prefix = _write(tmp_path, cells=tuple(SIX_CELLS), runs=SIX_CELLS)
    tex = prefix.with_suffix(".tex").read_text()
    assert r"\toprule" in tex and r"\cmidrule(lr){2-4}" in tex and r"\multicolumn{3}{c}{cifar100}" in tex
    assert r"wm \dag" in tex and r"\textbf{89.00}" in tex and r"{\scriptsize $\pm$1.41, \textbf{6.2$\times$}}" in tex
    document = (
        "\\documentclass[twocolumn]{article}\n\\usepackage{booktabs,graphicx}\n\\begin{document}\n"
        "\\newsavebox\\paper\\sbox\\paper{\\input{paper.tex}}\n"
        "\\newsavebox\\naturalwidth\\sbox\\naturalwidth{\\renewcommand\\resizebox[3]{#3}\\input{paper.tex}}\n"
        "\\typeout{PAPERWIDTH=\\the\\wd\\paper\\space COLUMNWIDTH=\\the\\columnwidth\\space NATURAL=\\the\\wd\\naturalwidth}\n"
        "\\begin{table}\\input{paper.tex}\\end{table}\n\\end{document}\n"
    )
    (prefix.parent / "doc.tex").write_text(document)
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=prefix.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    found = re.search(r"PAPERWIDTH=([\d.]+)pt COLUMNWIDTH=([\d.]+)pt NATURAL=([\d.]+)pt", run.stdout)
    width, column, natural = (float(v) for v in found.groups())
    assert width <= column + 0.01
    assert natural <= 1.5 * column, natural  # shrunk to at least two thirds: still readable in print
    assert "Overfull" not in run.stdout


def test_the_table_reads_the_round_at_the_target_when_a_sweep_goes_past_it(tmp_path):
    runs = {("toy", "net"): {**RUNS[("toy", "net")], "wm": (*RUNS[("toy", "net")]["wm"], (50, 0.5, 0.5))}}
    runs[("toy", "net")]["mag"] = (*RUNS[("toy", "net")]["mag"], (50, 0.4, 0.4))
    reports.make_paper_table(
        title="Toy",
        cells=[["toy", "net"]],
        methods=["wm", "mag"],
        claimed="wm",
        target_compression=15,
        tolerance=1.0,
        last_round=3,
        metric_rows=_rows(tmp_path, runs),
        out_prefix=tmp_path / "t/paper",
    )
    rows = _cells((tmp_path / "t/paper.md").read_text())
    assert rows[2][1] == "**89.00 ± 1.41**"  # round 2 (15x), not round 3 (50x)
