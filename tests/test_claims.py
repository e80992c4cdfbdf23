"""The claims' verdict logic on made-up metric rows: better, within the noise and worse
pairs (C1), interpolation on log compression, censoring and a method that never stays within
the tolerance (C2), the paper grid's coverage (C3), and the files the claims step writes."""

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from tests.helpers import metric_row
from weightmom.evaluation.metrics import METRIC_SCHEMA, SCHEMA_VERSION, expand_dense, write_table
from weightmom.reporting.claims import Protocol, check_claims, compression_within, pair_verdict
from weightmom.reporting.reports import make_claims

COMPRESSIONS = [1.0, 2.47, 6.08, 15.0, 27.39, 50.0]
OPTIONS = {
    "weightmom": {"pruner": "weightmom"},
    "wm_levelling": {"pruner": "weightmom", "allocation": "levelling"},
    "magnitude": {"pruner": "magnitude"},
    "lamp": {"pruner": "lamp"},
    "snip": {"pruner": "snip"},
}
PROTOCOL = Protocol(dense_epochs=30, finetune_epochs=2, rounds=3, target=15, sweep_rounds=2, sweep_to=50, seeds=3)


def curve(dense: float, drops: list[float]) -> list[float]:
    """Top-1 (fraction) of rounds 1..5 for the given drops (points) from `dense`."""
    return [(dense - d) / 100 for d in drops]


def rows(dataset: str, model: str, method: str, seed: int, top1s: list[float], dense: float = 80.0) -> list[dict]:
    made = [metric_row(model, method, seed, r, t, c) for r, (t, c) in enumerate(zip(top1s, COMPRESSIONS[1:]), 1)]
    if method == "weightmom":  # the shared dense row, once per (dataset, model, seed)
        made.insert(0, metric_row(model, "dense", seed, 0, dense / 100, 1.0))
    return [dict(row, dataset=dataset) for row in made]


def frame_of(*groups: list[dict]) -> pd.DataFrame:
    return expand_dense(pd.DataFrame([row for group in groups for row in group]), list(OPTIONS))


def test_compression_within_interpolates_on_log_compression_between_rounds():
    run = pd.DataFrame({"round": range(6), "compression_ratio": COMPRESSIONS, "drop": [0, 0.2, 0.5, 0.8, 1.5, 3.0]})
    value, censored = compression_within(run, tolerance=1.0, last_round=5)
    fraction = (1.0 - 0.8) / (1.5 - 0.8)
    assert value == pytest.approx(math.exp(math.log(15) + fraction * (math.log(27.39) - math.log(15))))
    assert 15 < value < 27.39 and not censored


def test_compression_within_takes_the_last_round_within_tolerance_when_the_curve_dips():
    run = pd.DataFrame({"round": range(6), "compression_ratio": COMPRESSIONS, "drop": [0, 1.2, 0.9, 0.4, 2.0, 4.0]})
    value, _ = compression_within(run.sample(frac=1, random_state=0), tolerance=1.0, last_round=5)  # any row order
    assert 15 < value < 27.39


def test_a_method_within_tolerance_at_its_last_round_is_censored_there():
    run = pd.DataFrame({"round": range(6), "compression_ratio": COMPRESSIONS, "drop": [0, -1, -0.5, 0, 0.3, 0.9]})
    assert compression_within(run, tolerance=1.0, last_round=5) == (50.0, True)


def test_a_method_that_never_stays_within_tolerance_is_interpolated_from_the_dense_network():
    run = pd.DataFrame({"round": range(6), "compression_ratio": COMPRESSIONS, "drop": [0, 4, 6, 8, 10, 12]})
    value, censored = compression_within(run, tolerance=1.0, last_round=5)
    assert value == pytest.approx(math.exp(0.25 * math.log(2.47))) and not censored
    assert value < 2.47


def test_a_run_with_a_round_missing_or_a_nan_top1_has_no_value_rather_than_a_censored_one():
    run = pd.DataFrame({"round": range(4), "compression_ratio": COMPRESSIONS[:4], "drop": [0, 0.1, 0.2, 0.3]})
    assert math.isnan(compression_within(run, tolerance=1.0, last_round=5)[0])  # sweep rounds missing
    run = pd.DataFrame({"round": range(6), "compression_ratio": COMPRESSIONS, "drop": [0, 0.1, np.nan, 0.3, 2, 3]})
    assert math.isnan(compression_within(run, tolerance=1.0, last_round=5)[0])


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [(0.1, 2.0, "better"), (-0.5, 0.7, "within the noise"), (-3.0, -0.2, "worse"), (np.nan, np.nan, "no interval")],
)
def test_pair_verdict(low, high, verdict):
    assert pair_verdict(low, high) == verdict


def three_seed_cell(dataset="cifar10_jpeg", model="alexnet", weightmom_shift=0.0, magnitude_shift=0.0):
    """Three seeds; magnitude and lamp differ from weightmom by fixed shifts (points) plus
    seed noise of +-0.1 point, so their paired intervals are narrow and sit where the shifts say."""
    groups = []
    for seed, noise in enumerate([-0.1, 0.0, 0.1]):
        base = [0.2, 0.5, 0.8, 1.5, 3.0]
        groups.append(rows(dataset, model, "weightmom", seed, curve(80, [d - weightmom_shift for d in base])))
        groups.append(rows(dataset, model, "wm_levelling", seed, curve(80, [d + 5 for d in base])))
        groups.append(rows(dataset, model, "magnitude", seed, curve(80, [d - magnitude_shift + noise for d in base])))
        groups.append(rows(dataset, model, "lamp", seed, curve(80, [d + 2 + noise for d in base])))
        groups.append(rows(dataset, model, "snip", seed, curve(80, [d + noise * 5 for d in base])))
    return groups


def test_c1_better_within_the_noise_and_worse_per_pair_and_the_claim_is_not_reproduced():
    frame = frame_of(*three_seed_cell(magnitude_shift=1.0))
    claims = check_claims(frame, None, OPTIONS, "weightmom", 15, 1.0, {"cifar10_jpeg": "cifar10"}, PROTOCOL)
    verdicts = claims.accuracy.set_index("baseline")["verdict"].to_dict()
    # wm_levelling runs the weightmom pruner: a reading of WeightMom, not a baseline
    assert verdicts == {"magnitude": "worse", "lamp": "better", "snip": "within the noise"}
    magnitude = claims.accuracy.set_index("baseline").loc["magnitude"]
    assert magnitude["difference"] == pytest.approx(-1.0)
    assert magnitude["ci_low"] < -1.0 < magnitude["ci_high"] < 0
    assert magnitude["basis"] == "paired t over 3 seeds"
    c1 = claims.verdicts[0]
    assert c1.verdict == "not reproduced" and "magnitude (cifar10_jpeg/alexnet)" in c1.evidence


def test_c1_reads_the_round_at_the_target_not_the_sweeps_last():
    groups = []
    for seed, noise in enumerate([-0.1, 0.0, 0.1]):
        # weightmom 1 point ahead of magnitude at 15x (round 3), 3 points behind at 50x (round 5)
        groups.append(rows("c10", "alexnet", "weightmom", seed, curve(80, [0.2, 0.5, 0.8, 1.0, 6.0])))
        groups.append(rows("c10", "alexnet", "magnitude", seed, curve(80, [0.2, 0.5, 1.8 + noise, 2.0, 3.0])))
    claims = check_claims(frame_of(*groups), None, OPTIONS, "weightmom", 15, 1.0, {}, PROTOCOL)
    pair = claims.accuracy.set_index("baseline").loc["magnitude"]
    assert pair["difference"] == pytest.approx(1.0) and pair["verdict"] == "better"


def test_a_method_that_did_not_run_in_a_cell_is_left_out_of_it():
    groups = three_seed_cell(magnitude_shift=1.0)
    # a second cell where only weightmom and lamp ran (every method still gets round 0)
    groups += [g for g in three_seed_cell(model="vgg16_bn") if g[-1]["method"] in ("weightmom", "lamp")]
    claims = check_claims(frame_of(*groups), None, OPTIONS, "weightmom", 15, 1.0, {}, PROTOCOL)
    vgg = claims.accuracy[claims.accuracy["model"] == "vgg16_bn"]
    assert list(vgg["baseline"]) == ["lamp"]
    assert set(claims.compression[claims.compression["model"] == "vgg16_bn"]["method"]) == {"weightmom", "lamp"}
    cell = three_seed_cell(model="vgg16_bn")
    alone = [g[:1] for g in cell if g[0]["method"] == "dense"] + [
        g for g in cell if g[-1]["method"] in ("lamp", "snip")
    ]
    claims = check_claims(frame_of(*alone), None, OPTIONS, "weightmom", 15, 1.0, {}, PROTOCOL)
    assert claims.accuracy.empty and claims.verdicts[0].verdict == "not tested"


def test_c1_is_supported_only_when_every_pair_is_better():
    frame = frame_of(*three_seed_cell(weightmom_shift=3.0, magnitude_shift=-1.0))
    claims = check_claims(frame, None, OPTIONS, "weightmom", 15, 1.0, {"cifar10_jpeg": "cifar10"}, PROTOCOL)
    assert set(claims.accuracy["verdict"]) == {"better"}
    assert claims.verdicts[0].verdict == "supported"


def test_c2_compression_ratio_to_the_best_baseline_and_the_verdicts():
    frame = frame_of(*three_seed_cell(magnitude_shift=1.0))
    claims = check_claims(frame, None, OPTIONS, "weightmom", 15, 1.0, {"cifar10_jpeg": "cifar10"}, PROTOCOL)
    c2 = claims.compression.set_index("method")
    assert set(c2.index) == {"weightmom", "magnitude", "lamp", "snip"}
    # weightmom: drop 0.8 at 15x, 1.5 at 27.39x; magnitude one point better all along (0.5 at
    # 27.39x, 2.0 at 50x, +-0.1 by seed): both interpolated, magnitude further out
    assert 15 < c2.loc["weightmom", "compression"] < 27.39 and not c2.loc["weightmom", "censored"]
    assert 27.39 < c2.loc["magnitude", "compression"] < 50 and not c2.loc["magnitude", "censored"]
    assert c2.loc["weightmom", "best_baseline"] == "magnitude"
    ratio = c2.loc["weightmom", "compression"] / c2.loc["magnitude", "compression"]
    assert c2.loc["weightmom", "ratio_to_best"] == pytest.approx(ratio) and ratio < 1
    assert c2.loc["weightmom", "verdict"] == "lower" and c2.loc["weightmom", "reaches_target"]
    verdict = claims.verdicts[1]
    # it reaches 15x, but a baseline keeps more: the 15x half holds, the "more than previous" half does not
    assert verdict.verdict == "partly" and "vs magnitude " in verdict.evidence


def test_c2_is_supported_when_weightmom_reaches_the_target_and_beats_the_best_baseline():
    frame = frame_of(
        *three_seed_cell(weightmom_shift=3.0, magnitude_shift=-1.0),
        *three_seed_cell(dataset="c100", weightmom_shift=3.0, magnitude_shift=-1.0),
    )
    both = {"cifar10_jpeg": "cifar10", "c100": "cifar100"}
    claims = check_claims(frame, None, OPTIONS, "weightmom", 15, 1.0, both, PROTOCOL)
    mine = claims.compression[claims.compression["role"] == "claimed"]
    assert list(mine["verdict"]) == ["higher", "higher"] and (mine["ratio_to_best"] > 1).all()
    assert claims.verdicts[1].verdict == "supported"


def test_c2_is_partly_supported_when_weightmom_is_above_the_best_baseline_in_one_cell_and_below_in_another():
    frame = frame_of(
        *three_seed_cell(weightmom_shift=3.0, magnitude_shift=-1.0),
        *three_seed_cell(model="vgg16_bn", magnitude_shift=1.0),
    )
    claims = check_claims(frame, None, OPTIONS, "weightmom", 15, 1.0, {"cifar10_jpeg": "cifar10"}, PROTOCOL)
    mine = claims.compression[claims.compression["role"] == "claimed"].set_index("model")["verdict"]
    assert mine.to_dict() == {"alexnet": "higher", "vgg16_bn": "lower"}
    verdict = claims.verdicts[1]
    assert verdict.verdict == "partly"
    assert verdict.evidence.endswith("(2 of 2 cells reach 15x; above the best baseline in 1, below it in 1)")


def test_a_compression_one_weight_short_of_the_target_reaches_it():
    frame = frame_of(*three_seed_cell(weightmom_shift=3.0, magnitude_shift=-1.0))
    frame.loc[frame["round"] == 5, "compression_ratio"] = 14.998  # a sweep-less run ends at the target
    frame = frame[frame["round"] <= 5]
    protocol = Protocol(30, 2, rounds=5, target=15, sweep_rounds=0, sweep_to=None, seeds=3)
    both = {"cifar10_jpeg": "cifar10", "c100": "cifar100"}
    frame = pd.concat([frame, frame[frame["dataset"] == "cifar10_jpeg"].assign(dataset="c100")])
    claims = check_claims(frame, None, OPTIONS, "weightmom", 15, 1.0, both, protocol)
    mine = claims.compression.set_index(["dataset", "method"]).loc[("cifar10_jpeg", "weightmom")]
    assert mine["censored"] and mine["compression"] == pytest.approx(14.998) and mine["reaches_target"]
    assert claims.verdicts[1].verdict == "supported"
    # the same evidence on one of the paper's datasets, or on none of them
    one = frame[frame["dataset"] == "cifar10_jpeg"]
    claims = check_claims(one, None, OPTIONS, "weightmom", 15, 1.0, both, protocol)
    assert claims.verdicts[1].verdict == "partly" and claims.verdicts[1].evidence.endswith("; CIFAR-100 not run")
    claims = check_claims(one, None, OPTIONS, "weightmom", 15, 1.0, {}, protocol)
    assert claims.verdicts[1].verdict == "supported (on none of the paper's datasets)"
    assert claims.verdicts[0].verdict.endswith("(on none of the paper's datasets)")


def test_c3_marks_the_cells_run_and_the_protocol_and_the_rest_not_run():
    frame = frame_of(*three_seed_cell(), *three_seed_cell(dataset="c100", model="vgg16_bn"))
    datasets = {"cifar10_jpeg": "cifar10", "c100": "cifar100", "digits": None}
    claims = check_claims(frame, None, OPTIONS, "weightmom", 15, 1.0, datasets, PROTOCOL)
    c3 = claims.coverage.set_index(["paper_dataset", "model"])
    assert len(c3) == 6
    assert c3.loc[("CIFAR-10", "alexnet"), "status"] == "run"
    assert c3.loc[("CIFAR-10", "alexnet"), "protocol"] == (
        "dense 30 ep; 3 rounds to 15x + 2 to 50x, 2 fine-tuning ep each; 3 seeds"
    )
    assert c3.loc[("CIFAR-100", "vgg16_bn"), "dataset"] == "c100"
    assert (c3.drop([("CIFAR-10", "alexnet"), ("CIFAR-100", "vgg16_bn")])["status"] == "not run").all()
    assert claims.verdicts[2].verdict == "partly covered"
    assert claims.verdicts[2].evidence.startswith("2 of 6 cells run")


def test_the_claims_step_writes_every_file_from_row_files(tmp_path):
    paths = []
    for i, group in enumerate(three_seed_cell(magnitude_shift=1.0)):
        table = pa.Table.from_pylist([dict(row, schema_version=SCHEMA_VERSION) for row in group], schema=METRIC_SCHEMA)
        write_table(table, tmp_path / f"rows{i}.parquet")
        paths.append(tmp_path / f"rows{i}.parquet")
    protocol = {
        "training": {"dense": {"epochs": 30}, "finetune": {"epochs": 2}},
        "pruning": {"target_compression": 15, "rounds": 3, "sweep": {"max_compression": 50, "rounds": 2}},
        "seeds": [0, 1, 2],
    }
    make_claims(
        title="Claims",
        method="weightmom",
        method_options=OPTIONS,
        target_compression=15,
        tolerance=1.0,
        paper_datasets={"cifar10_jpeg": "cifar10"},
        protocol=protocol,
        metric_rows=paths,
        out_prefix=tmp_path / "claims",
    )
    text = (tmp_path / "claims.md").read_text()
    rows_shown = [
        [cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("|")
    ]
    c1 = next(row for row in rows_shown if row[0].startswith("C1: outperforms previous approaches"))
    assert c1[1] == "not reproduced"
    pair = next(row for row in rows_shown if row[:3] == ["cifar10_jpeg", "alexnet", "magnitude"])
    assert pair[5:8] == ["-1.00", "[-1.25, -0.75]", "worse"]
    saved = pd.read_parquet(tmp_path / "claims.parquet")
    assert set(saved["claim"]) == {"verdict", "C1", "C2", "C3"}
    assert pd.read_csv(tmp_path / "claims.csv").shape[0] == len(saved)
    assert "<table" in (tmp_path / "claims.html").read_text()
