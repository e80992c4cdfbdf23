"""Statistics over few seeds that do not mislead: seeds that agree exactly show "no spread over
N seeds", never "± 0.00" or a zero-width interval; a top-1 t-interval that would pass 0 or 100 %
is n/a with the reason, never clipped; and the numeric files hold what the text says (NaN
bounds and the reason). The paper table, the claims' C1 verdict and `weightmom compare`."""

import math

import numpy as np
import pandas as pd
import pytest

from weightmom.evaluation.metrics import METRIC_SCHEMA, write_rows
from weightmom.reporting.claims import Protocol, check_claims, pair_verdict
from weightmom.reporting.claims_report import accuracy_cells
from weightmom.reporting.compare import final_rounds_table
from weightmom.reporting.tables import DIFFERENCE_SCALE, TOP1_SCALE, mean_interval, summary_table, write_table_files

from helpers import metric_row

NO_SPREAD_2 = "no spread over 2 seeds"
PAST_100 = "n/a: t-interval leaves 0 to 100 with 2 seeds"


def test_mean_interval_says_why_it_has_no_interval():
    assert mean_interval([87.0, 85.0], TOP1_SCALE) == pytest.approx((86 - 12.7062, 86 + 12.7062, ""), abs=1e-3)
    # three equal floats whose sem comes out 1e-17, not 0: still no spread, not [0.10, 0.10]
    low, high, note = mean_interval([0.1, 0.1, 0.1], TOP1_SCALE)
    assert math.isnan(low) and math.isnan(high) and note == "no spread over 3 seeds"
    low, high, note = mean_interval([99.5, 97.5], TOP1_SCALE)  # 98.5 +- 12.7: past 100, not cut to it
    assert math.isnan(low) and math.isnan(high) and note == PAST_100
    assert mean_interval([-60.0, -99.0], DIFFERENCE_SCALE)[2] == "n/a: t-interval leaves -100 to 100 with 2 seeds"
    low, _, note = mean_interval([87.0], TOP1_SCALE)
    assert math.isnan(low) and note == ""


def two_seed_frame() -> pd.DataFrame:
    """Dense 99.5 / 99.7 %; at 15x wm 99.33 % on both seeds, gmp 98.33 % on both (1 point
    behind wm on each seed: a difference with no spread), mag 99 / 97 % (98 +- 12.7: past 100)."""
    rows = [
        metric_row("net", method, seed, 0, top1, 1.0)
        for method in ("wm", "gmp", "mag")
        for seed, top1 in ((0, 0.995), (1, 0.997))
    ]
    for method, top1s in (("wm", (0.9933, 0.9933)), ("gmp", (0.9833, 0.9833)), ("mag", (0.99, 0.97))):
        rows += [metric_row("net", method, seed, 1, top1, 15.0) for seed, top1 in enumerate(top1s)]
    return pd.DataFrame(rows)


def write_two_seed_table(tmp_path) -> pd.DataFrame:
    table = summary_table(two_seed_frame(), ["net"], ["wm", "gmp", "mag"], 1.0, None, 15)
    write_table_files(table, tmp_path / "toy", "Toy", 15, 1.0)
    return table


def test_a_table_whose_seeds_agree_exactly_says_no_spread(tmp_path):
    write_two_seed_table(tmp_path)
    cells = {
        line.split("|")[2].strip(" *"): line
        for line in (tmp_path / "toy.md").read_text().splitlines()
        if line.startswith("| net")
    }
    wm = [cell.strip() for cell in cells["wm"].split("|")[1:-1]]
    # model, method, dense, top-1, its CI, vs wm, val top-1, drop, compression, FLOPs, max compression, seeds
    assert wm[3] == f"**99.33 ({NO_SPREAD_2})**" and wm[4] == NO_SPREAD_2 and wm[5] == "reference"
    assert wm[8] == "15.0"  # every seed's schedule reaches 15x exactly, by construction: no note
    gmp = [cell.strip() for cell in cells["gmp"].split("|")[1:-1]]
    assert gmp[5] == f"-1.00 ({NO_SPREAD_2})"
    assert "± 0.00" not in cells["wm"] + cells["gmp"] and "[99.33, 99.33]" not in cells["wm"]
    numeric = pd.read_parquet(tmp_path / "toy.parquet").set_index("method")
    assert numeric.loc["wm", ["top1_ci_low", "top1_ci_high"]].isna().all()
    assert numeric.loc["wm", "top1_ci_note"] == NO_SPREAD_2 and numeric.loc["wm", "top1_std"] == 0
    assert numeric.loc["gmp", ["diff_ci_low", "diff_ci_high"]].isna().all()
    assert numeric.loc["gmp", "diff_note"] == NO_SPREAD_2 and numeric.loc["gmp", "diff_mean"] == pytest.approx(-1.0)
    tex = (tmp_path / "toy.tex").read_text()
    assert rf"{{\boldmath $99.33$ ({NO_SPREAD_2})}}" in tex and f"$-1.00$ ({NO_SPREAD_2})" in tex
    assert "'no spread over N seeds' where every seed gave the same value" in (tmp_path / "toy.md").read_text()


def test_a_top1_interval_past_100_is_not_available_rather_than_clipped(tmp_path):
    write_two_seed_table(tmp_path)
    markdown = (tmp_path / "toy.md").read_text()
    mag = [cell.strip() for cell in next(line for line in markdown.splitlines() if "| mag" in line).split("|")[1:-1]]
    assert mag[3] == "98.00 ± 1.41" and mag[4] == PAST_100
    assert "100.00]" not in markdown
    assert mag[5] == "-1.33 [-14.04, +11.38]"  # its difference to wm stays within -100 to 100: shown
    assert (
        "reaches below 0 or above 100% is no valid interval on that scale and shows as n/a, never clipped" in markdown
    )
    for numeric in (
        pd.read_parquet(tmp_path / "toy.parquet"),
        pd.read_csv(tmp_path / "toy.csv", keep_default_na=False, na_values=[""]),
    ):
        row = numeric.set_index("method").loc["mag"]
        assert pd.isna(row["top1_ci_low"]) and pd.isna(row["top1_ci_high"]) and row["top1_ci_note"] == PAST_100


def test_a_single_seed_bootstrap_with_no_spread_over_the_test_images_has_no_interval():
    wm = two_seed_frame().query("seed == 0 and method == 'wm'")
    frame = pd.concat([wm, wm.assign(method="gmp")], ignore_index=True)  # gmp: a copy of wm, seed 0 alone
    labels = np.arange(50) % 10
    predictions = pd.DataFrame(
        [
            {"model": "net", "method": method, "seed": 0, "round": 1, "index": i, "label": label, "predicted": label}
            for method in ("wm", "gmp")
            for i, label in enumerate(labels)
        ]
    )
    table = summary_table(frame, ["net"], ["wm", "gmp"], 1.0, predictions, 15).set_index("method")
    # the same prediction on every image: every resample gives 0, a zero-width interval
    assert table.loc["gmp", "diff_note"] == "no spread over 50 test images"
    assert table.loc["gmp", ["diff_ci_low", "diff_ci_high"]].isna().all()


@pytest.mark.parametrize(("low", "high"), [(0.5, 0.5), (0.0, 0.0), (-1.0, -1.0)])
def test_a_zero_width_interval_is_no_interval(low, high):
    assert pair_verdict(low, high) == "no interval"


def test_c1_does_not_call_a_pair_whose_seeds_agree_exactly_better():
    frame = []
    for seed in range(3):
        frame.append(metric_row("alexnet", "weightmom", seed, 0, 0.80, 1.0))
        frame.append(metric_row("alexnet", "magnitude", seed, 0, 0.80, 1.0))
        frame.append(metric_row("alexnet", "lamp", seed, 0, 0.80, 1.0))
        frame.append(metric_row("alexnet", "weightmom", seed, 1, 0.795, 15.0))
        frame.append(metric_row("alexnet", "magnitude", seed, 1, 0.785, 15.0))  # 1 point behind on every seed
        frame.append(metric_row("alexnet", "lamp", seed, 1, 0.795, 15.0))  # the same on every seed
    options = {"weightmom": {"pruner": "weightmom"}, "magnitude": {"pruner": "magnitude"}, "lamp": {"pruner": "lamp"}}
    protocol = Protocol(30, 2, rounds=1, target=15, sweep_rounds=0, sweep_to=None, seeds=3)
    claims = check_claims(pd.DataFrame(frame), None, options, "weightmom", 15, 1.0, {}, protocol)
    c1 = claims.accuracy.set_index("baseline")
    # before: zero-width intervals [+1.00, +1.00] "better" and [0.00, 0.00] "within the noise"
    assert c1.loc["magnitude", "difference"] == pytest.approx(1.0) and c1.loc["lamp", "difference"] == 0
    assert list(c1["verdict"]) == ["no interval", "no interval"]
    assert set(c1["basis"]) == {"no spread over 3 seeds"} and c1[["ci_low", "ci_high"]].isna().all().all()
    assert claims.verdicts[0].verdict.startswith("not shown") and "0 better" in claims.verdicts[0].evidence
    shown = accuracy_cells(claims, 15).set_index("Baseline")
    assert shown.loc["magnitude", "95% CI"] == "-" and shown.loc["magnitude", "Basis"] == "no spread over 3 seeds"


def test_compare_says_no_spread_when_the_seeds_agree_exactly(tmp_path):
    rows = [metric_row("net", "wm", seed, 0, 0.99, 1.0) for seed in range(3)]
    rows += [metric_row("net", "wm", seed, 1, 0.1, 15.0) for seed in range(3)]  # 10.00 on every seed
    rows += [metric_row("net", "mag", seed, 1, top1, 15.0) for seed, top1 in enumerate((0.90, 0.92, 0.94))]
    write_rows(rows, METRIC_SCHEMA, tmp_path / "metrics.parquet")
    lines = {line.split("|")[3].strip(): line for line in final_rounds_table(tmp_path).splitlines()[2:]}
    assert "| 10.00 (no spread over 3 seeds) |" in lines["wm"] and "± 0.00" not in lines["wm"]
    assert " 92.00 ± 2.00 |" in lines["mag"]
    assert "| 99.00 (no spread over 3 seeds) |" in lines["dense"]


def test_differences_that_agree_but_for_their_last_bit_have_no_spread():
    """Two seeds whose top-1 changed alike: 99.00 - 99.22 computed from other floats can differ by 1e-14."""
    low, high, note = mean_interval([99.0 - 99.22222222222223, 99.0 - 99.22222222222222], DIFFERENCE_SCALE)
    assert np.isnan(low) and np.isnan(high) and note == "no spread over 2 seeds"
