"""Metric files, the paper table and the figure, from hand-made metric rows."""

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from weightmom.evaluation.metrics import METRIC_SCHEMA, write_rows
from weightmom.reporting import reports

from helpers import metric_row


@pytest.fixture
def row_files(tmp_path):
    rows = [
        metric_row("net", "dense", 0, 0, 0.90, 1.0),
        metric_row("net", "dense", 1, 0, 0.92, 1.0),
        metric_row("net", "wm", 0, 1, 0.89, 4.0),
        metric_row("net", "wm", 0, 2, 0.88, 15.0),
        metric_row("net", "wm", 1, 1, 0.91, 4.0),
        metric_row("net", "wm", 1, 2, 0.86, 15.0),
        metric_row("net", "mag", 0, 1, 0.85, 4.0),
        metric_row("net", "mag", 0, 2, 0.80, 15.0),
        metric_row("net", "mag", 1, 1, 0.87, 4.0),
        metric_row("net", "mag", 1, 2, 0.82, 15.0),
    ]
    paths = []
    for i, row in enumerate(rows):
        path = tmp_path / f"rows/{i}.parquet"
        write_rows([row], METRIC_SCHEMA, path)
        paths.append(path)
    return paths


def _table(row_files, tmp_path, kind="paper", tolerance=1.0, options=None):
    reports.make_table(
        title="Toy",
        kind=kind,
        metric_rows=row_files,
        models=["net"],
        methods=["wm", "mag"],
        target_compression=15,
        tolerance=tolerance,
        method_options=options or {},
        out_prefix=tmp_path / "t/toy",
    )
    return pd.read_parquet(tmp_path / "t/toy.parquet")


def test_table_has_paper_shape_with_mean_and_std_over_seeds(row_files, tmp_path):
    table = _table(row_files, tmp_path)
    assert list(table["method"]) == ["wm", "mag"]
    wm = table.iloc[0]
    assert wm["dense_top1_mean"] == pytest.approx(91.0)
    assert wm["top1_mean"] == pytest.approx(87.0)
    assert wm["top1_std"] == pytest.approx(pd.Series([88.0, 86.0]).std())
    assert wm["drop_mean"] == pytest.approx(4.0)
    assert wm["compression_mean"] == pytest.approx(15.0)
    assert wm["seeds"] == 2
    markdown = (tmp_path / "t/toy.md").read_text()
    assert "| net     | **wm**   | 91.00 ± 1.41      | **87.00 ± 1.41**" in markdown
    assert "| net     | mag      | 91.00 ± 1.41      | 81.00 ± 1.41 " in markdown
    assert pd.read_csv(tmp_path / "t/toy.csv").shape == table.shape
    assert list(table["best"]) == [True, False]


def test_max_compression_within_tolerance_by_hand(row_files, tmp_path):
    # wm seed 0: drops 1 (4x), 2 (15x); seed 1: 1 (4x), 6 (15x) -> within 1 point: 4x, 4x
    # mag: drops 5 and 10 / 5 and 10 -> only round 0 qualifies: 1x
    table = _table(row_files, tmp_path, tolerance=1.0)
    assert list(table["max_compression_mean"]) == [4.0, 1.0]
    table = _table(row_files, tmp_path, tolerance=2.0)
    assert list(table["max_compression_mean"]) == [pytest.approx(9.5), 1.0]  # 15x for seed 0, 4x for seed 1


def test_latex_table_is_booktabs_and_ablation_shows_options(row_files, tmp_path):
    _table(
        row_files,
        tmp_path,
        kind="ablation",
        options={"wm": {"pruner": "weightmom", "beta": 0.5}, "mag": {"pruner": "magnitude"}},
    )
    tex = (tmp_path / "t/toy.tex").read_text()
    lines = tex.splitlines()
    assert lines[2].startswith(r"\begin{tabular}{llll") and r"\toprule" in lines and r"\bottomrule" in lines
    assert r"\textbf{wm}" in tex and r"$91.00 \pm 1.41$" in tex and r"{\boldmath $87.00 \pm 1.41$}" in tex
    header = lines[4]
    assert header.startswith("Model & Method & beta & pruner & Dense top-1")
    assert r"0.5 & weightmom" in tex and r"- & magnitude" in tex
    markdown = (tmp_path / "t/toy.md").read_text()
    assert "| beta   | pruner" in markdown


def test_single_seed_markdown_keeps_each_columns_decimals(row_files, tmp_path):
    _table([row_files[i] for i in (0, 2, 3, 6, 7)], tmp_path)  # seed 0 alone: no spread to show
    rows = [line for line in (tmp_path / "t/toy.md").read_text().splitlines() if line.startswith("| net")]
    cells = [[cell.strip(" *") for cell in line.split("|")[1:-1]] for line in rows]
    # model, method, dense, top-1, its CI, vs wm, val top-1, drop, compression, ...
    assert [cells[0][i] for i in (2, 3, 6, 7)] == ["90.00", "88.00", "88.00", "2.00"]  # two decimals
    assert cells[0][8] == "15.0" and cells[1][7] == "10.00"  # compression: one decimal; mag's drop
    assert cells[0][4] == "-" and cells[0][5] == "reference" and cells[1][5] == "-8.00"  # one seed, no predictions


@pytest.mark.skipif(
    shutil.which("pdflatex") is None, reason="no pdflatex here (apt-get install texlive-latex-recommended)"
)
def test_the_latex_table_compiles(row_files, tmp_path):
    _table(row_files, tmp_path, kind="ablation", options={"wm": {"beta": 0.5}})
    document = (
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n\\input{toy.tex}\n\\end{document}\n"
    )
    (tmp_path / "t/doc.tex").write_text(document)
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp_path / "t",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "t/doc.pdf").exists()


def test_collect_gives_every_method_its_round_zero(row_files, tmp_path):
    reports.collect(
        metric_rows=row_files,
        layer_rows=[],
        methods=["wm", "mag"],
        metrics_out=tmp_path / "m.parquet",
        layers_out=tmp_path / "l.parquet",
        summary_json=tmp_path / "s.json",
        summary_csv=tmp_path / "s.csv",
        target_round=1,  # a sweep's rounds go on past the target: the summary reads round 1
    )
    frame = pd.read_parquet(tmp_path / "m.parquet")
    assert len(frame) == 2 * 2 * 3  # methods x seeds x rounds 0..2
    assert set(frame.groupby(["method", "seed"]).size()) == {3}
    assert "dense" not in set(frame["method"])
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary == {"toy/net": {"dense": pytest.approx(91.0), "mag": pytest.approx(86.0), "wm": pytest.approx(90.0)}}
    curve = pd.read_csv(tmp_path / "s.csv")
    assert len(curve) == 2 * 3 and curve[curve["method"] == "mag"]["top1"].round(4).tolist() == [0.91, 0.86, 0.81]


def test_figure_is_a_png(row_files, tmp_path):
    reports.make_figure(title="toy / net", metric_rows=row_files, methods=["wm", "mag"], out=tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_density_figure_from_layer_rows(tmp_path):
    from weightmom.evaluation.metrics import LAYER_SCHEMA

    paths = []
    for method, densities in (("wm", [0.5, 0.1, 0.02]), ("mag", [0.2, 0.2, 0.2])):
        for round_index, scale in ((1, 2.0), (2, 1.0)):
            rows = [
                {
                    "dataset": "toy",
                    "model": "net",
                    "method": method,
                    "seed": 0,
                    "round": round_index,
                    "layer": f"l{i}.weight",
                    "numel": 100,
                    "nonzero": round(100 * d * scale),
                    "density": d * scale,
                    "flops_dense": 1e4,
                    "flops_sparse": 1e4 * d,
                }
                for i, d in enumerate(densities)
            ]
            path = tmp_path / f"{method}{round_index}.parquet"
            write_rows(rows, LAYER_SCHEMA, path)
            paths.append(path)
    reports.make_density_figure(title="toy", layer_rows=paths, methods=["wm", "mag"], out=tmp_path / "d.png")
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"


def test_confidence_interval_and_paired_difference_by_hand(row_files, tmp_path):
    # wm top-1 88, 86 over two seeds: mean 87, sem 1, t(0.975, 1 df) = 12.7062 -> 87 +- 12.71
    # mag - wm per seed: 80 - 88 = -8, 82 - 86 = -4: mean -6, sem 2 -> -6 +- 25.41
    table = _table(row_files, tmp_path).set_index("method")
    assert table.loc["wm", "top1_ci_low"] == pytest.approx(87 - 12.7062, abs=1e-3)
    assert table.loc["wm", "top1_ci_high"] == pytest.approx(87 + 12.7062, abs=1e-3)
    assert table.loc["mag", "diff_mean"] == pytest.approx(-6.0)
    assert table.loc["mag", "diff_ci_low"] == pytest.approx(-6 - 2 * 12.7062, abs=1e-3)
    assert table.loc["mag", "diff_ci_high"] == pytest.approx(-6 + 2 * 12.7062, abs=1e-3)
    assert table.loc["mag", "diff_basis"] == "paired t over 2 seeds" and table.loc["wm", "reference"] == "wm"
    markdown = (tmp_path / "t/toy.md").read_text()
    assert "[74.29, 99.71]" in markdown and "-6.00 [-31.41, +19.41]" in markdown and "| reference" in markdown


def test_single_seed_difference_is_a_paired_bootstrap_over_test_images():
    from weightmom.reporting.tables import paired_bootstrap

    reference = np.ones(200, dtype=bool)
    worse = reference.copy()
    worse[:10] = False  # wrong on 10 of the 200 images the reference gets right: -5 points
    low, high = paired_bootstrap(worse, reference)
    assert low < -5 < high and -10 < low and high <= 0  # every resample loses, never gains
    assert paired_bootstrap(reference, reference) == (0.0, 0.0)
    swapped = reference.copy()
    swapped[:10], swapped[10:20] = False, True  # as good overall, different images
    low, high = paired_bootstrap(swapped, np.r_[np.ones(10, bool), np.zeros(10, bool), np.ones(180, bool)])
    assert low < 0 < high


def test_a_single_seed_table_bootstraps_over_the_final_rounds_predictions(row_files, tmp_path):
    from weightmom.evaluation.metrics import PREDICTION_SCHEMA

    labels = np.arange(100) % 10
    files = []
    for method, wrong in (("wm", 12), ("mag", 20)):  # 88% and 80% on the same 100 images
        predicted = labels.copy()
        predicted[:wrong] = (labels[:wrong] + 1) % 10
        rows = [
            {
                "dataset": "toy",
                "model": "net",
                "method": method,
                "seed": 0,
                "round": 2,
                "index": i,
                "label": int(label),
                "predicted": int(guess),
            }
            for i, (label, guess) in enumerate(zip(labels, predicted))
        ]
        files.append(tmp_path / f"{method}-predictions.parquet")
        write_rows(rows, PREDICTION_SCHEMA, files[-1])
    reports.make_table(
        title="Toy",
        kind="paper",
        metric_rows=[row_files[i] for i in (0, 2, 3, 6, 7)],
        models=["net"],
        methods=["wm", "mag"],
        target_compression=15,
        tolerance=1.0,
        method_options={},
        out_prefix=tmp_path / "t/toy",
        prediction_rows=files,
    )
    mag = pd.read_parquet(tmp_path / "t/toy.parquet").set_index("method").loc["mag"]
    assert mag["diff_basis"] == "paired bootstrap over 100 test images"
    assert mag["diff_mean"] == pytest.approx(-8.0)  # from the metric rows: 80 - 88
    assert -8 < mag["diff_ci_high"] <= 0 and mag["diff_ci_low"] < -8  # mag is wrong wherever wm is, and on 8 more
