"""`weightmom compare A B`: two experiments side by side (issue 23), from hand-made experiment
folders: metric rows, and where a case needs them the rounds' settings.json (target
compression), the prepared test split (data/<dataset>/test.npz) and prediction files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from weightmom.cli import main
from weightmom.evaluation.metrics import METRIC_SCHEMA, PREDICTION_SCHEMA, write_rows
from weightmom.reporting.compare import two_experiments_table
from weightmom.reporting.tables import paired_bootstrap

from helpers import metric_row

COMPRESSIONS = {1: 4.0, 2: 15.0, 3: 50.0}  # round -> compression


def _rows(model: str, method: str, top1s: dict[int, float], rounds: tuple[int, ...] = (1, 2)) -> list[dict]:
    """A method's rows: per seed (top1s: seed -> top-1 of round 2, the 15x round), round 1 at
    4x (top-1 0.97), round 2 at 15x and, when asked, round 3 at 50x (top-1 0.5, a sweep)."""
    top1 = {1: lambda seed: 0.97, 2: lambda seed: top1s[seed], 3: lambda seed: 0.5}
    return [metric_row(model, method, seed, r, top1[r](seed), COMPRESSIONS[r]) for seed in top1s for r in rounds]


def _dense(model: str, top1s: dict[int, float], methods: tuple[str, ...]) -> list[dict]:
    """Round 0, one row per method and seed, as the collected metrics hold it."""
    return [metric_row(model, method, seed, 0, top1, 1.0) for method in methods for seed, top1 in top1s.items()]


def _experiment(
    folder: Path, rows: list[dict], targets: dict[str, float] | None = None, images: np.ndarray | None = None
):
    """An experiment folder: metrics.parquet; settings.json of every round of the methods in
    `targets` (method -> its pruning.target_compression); data/toy/test.npz from `images`."""
    targets = targets or {}
    folder.mkdir(parents=True)
    write_rows(rows, METRIC_SCHEMA, folder / "metrics.parquet")
    for row in rows:
        if row["method"] in targets and row["round"] > 0:
            run = folder / f"runs/toy/{row['model']}/seed{row['seed']}/{row['method']}/round{row['round']}"
            run.mkdir(parents=True, exist_ok=True)
            pruning = {"target_compression": targets[row["method"]], "rounds": 2, "schedule": "geometric"}
            (run / "settings.json").write_text(json.dumps({"pruning": pruning}))
    if images is not None:
        (folder / "data/toy").mkdir(parents=True)
        labels = np.arange(len(images)) % 2
        np.savez(
            folder / "data/toy/test.npz",
            images=images,
            labels=labels,
            classes=np.array(["a", "b"]),
            mean=np.zeros(1, np.float32),
            std=np.ones(1, np.float32),
        )
    return folder


def _predictions(folder: Path, model: str, method: str, seed: int, round_index: int, correct: list[bool]) -> None:
    """The prediction file of one round: labels 0, 1, 0, 1, ...; the prediction right where `correct`."""
    stage = "dense" if round_index == 0 else f"{method}/round{round_index}"
    path = folder / f"runs/toy/{model}/seed{seed}/{stage}/predictions.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    key = {"dataset": "toy", "model": model, "method": method, "seed": seed, "round": round_index}
    rows = [
        {**key, "index": i, "label": i % 2, "predicted": i % 2 if right else 1 - i % 2}
        for i, right in enumerate(correct)
    ]
    write_rows(rows, PREDICTION_SCHEMA, path)


def _table(text: str) -> dict[tuple[str, str], list[str]]:
    """The printed table's rows by (model, method): its cells from `compared at` on."""
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    cells = [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]
    return {(row[1], row[2]): row[3:] for row in cells}


IMAGES = np.arange(16, dtype=np.uint8).reshape(4, 1, 2, 2)


@pytest.fixture
def two_seed_experiments(tmp_path):
    """A and B on the same test split, seeds 0 and 1. At 15x: wm 95/93 % in A, 96/95 % in B
    (+1, +2 points); mag 90/90 % in A (no spread), 91/93 % in B (+1, +3). B also runs wm on to
    50x (a sweep past its target), and gmp; A also lamp, and a whole other model, `big`."""
    rows_a = _dense("net", {0: 0.99, 1: 0.98}, ("wm", "mag", "lamp"))
    rows_a += _rows("net", "wm", {0: 0.95, 1: 0.93}) + _rows("net", "mag", {0: 0.90, 1: 0.90})
    rows_a += _rows("net", "lamp", {0: 0.9, 1: 0.9}) + _dense("big", {0: 0.5}, ("wm",)) + _rows("big", "wm", {0: 0.4})
    rows_b = _dense("net", {0: 0.99, 1: 0.98}, ("wm", "mag", "gmp"))
    rows_b += _rows("net", "wm", {0: 0.96, 1: 0.95}, rounds=(1, 2, 3)) + _rows("net", "mag", {0: 0.91, 1: 0.93})
    rows_b += _rows("net", "gmp", {0: 0.9, 1: 0.9})
    return rows_a, rows_b, tmp_path


def test_two_experiments_paired_over_seeds_at_the_target_both_ran(two_seed_experiments):
    rows_a, rows_b, tmp_path = two_seed_experiments
    targets = {"wm": 15, "mag": 15}
    a = _experiment(tmp_path / "a", rows_a, targets, IMAGES)
    b = _experiment(tmp_path / "b", rows_b, targets, IMAGES)
    text = two_experiments_table(a, b)
    assert "Test set of toy: the same, paired (data/toy/test.npz identical in A and B)." in text
    table = _table(text)
    assert list(table) == [("net", "dense"), ("net", "mag"), ("net", "wm")]  # dense first, then the methods
    # compared at, seeds, A round (x), B round (x), A top-1, B top-1, B - A, paired B - A, paired over
    assert table["net", "dense"] == [
        "dense",
        "2, 2, 2",
        "0 (1.00)",
        "0 (1.00)",
        "98.50 ± 0.71",
        "98.50 ± 0.71",
        "+0.00",
        "+0.00 (no spread over 2 seeds)",
        "2 seeds (t)",
    ]
    # B's round 3 (50x) is past the target: both at round 2, 15x; paired +1, +2: 1.5 ± 12.706 x 0.5
    assert table["net", "wm"] == [
        "target 15x",
        "2, 2, 2",
        "2 (15.00)",
        "2 (15.00)",
        "94.00 ± 1.41",
        "95.50 ± 0.71",
        "+1.50",
        "+1.50 [-4.85, +7.85]",
        "2 seeds (t)",
    ]
    assert table["net", "mag"][4:8] == [
        "90.00 (no spread over 2 seeds)",
        "92.00 ± 1.41",
        "+2.00",
        "+2.00 [-10.71, +14.71]",  # paired +1, +3: 2 ± 12.706 x 1
    ]
    assert text.endswith(
        f"\n\nOnly in A ({a}): toy/big (the whole cell: dense, wm); toy/net: lamp\nOnly in B ({b}): toy/net: gmp"
    )


def test_without_a_common_target_the_rounds_are_at_the_highest_compression_both_reach(two_seed_experiments):
    rows_a, rows_b, tmp_path = two_seed_experiments
    a = _experiment(tmp_path / "a", rows_a, {"wm": 15}, IMAGES)
    b = _experiment(tmp_path / "b", rows_b, {}, IMAGES)  # B's settings are not there
    table = _table(two_experiments_table(a, b))
    assert table["net", "wm"][:4] == ["15.00x, highest both reach; targets 15x, not recorded", "2, 2, 2"] + [
        "2 (15.00)",
        "2 (15.00)",
    ]
    rows_b = [row for row in rows_b if not (row["method"] == "wm" and row["round"] == 2)]  # B: 4x and 50x only
    c = _experiment(tmp_path / "c", rows_b, {}, IMAGES)
    table = _table(two_experiments_table(a, c))
    assert table["net", "wm"][:4] == [
        "15.00x, highest both reach; targets 15x, not recorded (compressions differ)",
        "2, 2, 2",
        "2 (15.00)",
        "3 (50.00)",  # nearest to 15x on a log scale: 50x (x3.3), not 4x (/3.75)
    ]


def test_different_or_unknown_test_sets_give_no_paired_difference(two_seed_experiments):
    rows_a, rows_b, tmp_path = two_seed_experiments
    a = _experiment(tmp_path / "a", rows_a, images=IMAGES)
    b = _experiment(tmp_path / "b", rows_b, images=IMAGES + 1)  # the same labels, other images
    text = two_experiments_table(a, b)
    assert "Test set of toy: test sets differ, not paired (data/toy/test.npz differ)." in text
    assert _table(text)["net", "wm"][6:] == ["+1.50", "-", "unpaired: test sets differ"]
    c = _experiment(tmp_path / "c", rows_b)  # no test split, no prediction files
    text = two_experiments_table(a, c)
    assert (
        "Test set of toy: test sets not known to be the same, not paired "
        "(B holds neither data/toy/test.npz nor a prediction file)." in text
    )
    assert _table(text)["net", "mag"][6:] == ["+2.00", "-", "unpaired: test sets not known to be the same"]


def test_one_seed_is_paired_over_the_test_images_of_the_prediction_files(tmp_path):
    """No test split in either folder: the prediction files' labels say the test sets are the
    same; with one seed in common the interval is a paired bootstrap over those images."""
    rows_a = _dense("net", {0: 0.9}, ("wm", "mag")) + _rows("net", "wm", {0: 0.5}) + _rows("net", "mag", {0: 0.7})
    rows_b = _dense("net", {0: 0.9}, ("wm", "mag")) + _rows("net", "wm", {0: 0.75}) + _rows("net", "mag", {0: 0.6})
    a, b = _experiment(tmp_path / "a", rows_a), _experiment(tmp_path / "b", rows_b)
    rng = np.random.default_rng(0)
    correct_a, correct_b = rng.random(40) < 0.5, rng.random(40) < 0.75
    _predictions(a, "net", "wm", 0, 2, list(correct_a))
    _predictions(b, "net", "wm", 0, 2, list(correct_b))
    _predictions(a, "net", "dense", 0, 0, [True] * 40)
    _predictions(b, "net", "dense", 0, 0, [True] * 40)
    text = two_experiments_table(a, b)
    assert (
        "Test set of toy: the same labels, paired (40 test labels identical in order, A's and B's "
        "runs/toy/net/seed0/dense/predictions.parquet; the images themselves not compared: "
        "data/toy/test.npz is not in both)." in text
    )
    table = _table(text)
    low, high = paired_bootstrap(correct_b, correct_a, 0)
    assert low < high
    assert table["net", "wm"][4:] == [
        "50.00",
        "75.00",
        "+25.00",
        f"+25.00 [{low:+.2f}, {high:+.2f}]",
        "40 test images (bootstrap)",
    ]
    assert table["net", "dense"][7:] == ["+0.00 (no spread over 40 test images)", "40 test images (bootstrap)"]
    # mag has no prediction files: its difference, but no interval
    assert table["net", "mag"][6:] == ["-10.00", "-10.00", "1 seed: no interval (no prediction files of both rounds)"]
    # other labels in B's files: other test sets
    _predictions(b, "net", "dense", 0, 0, [True] * 39)
    text = two_experiments_table(a, b)
    assert "Test set of toy: test sets differ, not paired (their labels differ: 40 images in A, 39 in B;" in text


def test_the_command_compares_two_folders_and_still_shows_one(two_seed_experiments, capsys):
    rows_a, rows_b, tmp_path = two_seed_experiments
    a = _experiment(tmp_path / "a", rows_a, images=IMAGES)
    b = _experiment(tmp_path / "b", rows_b, images=IMAGES)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"A: {a}\nB: {b}\nRounds compared:") and out == two_experiments_table(a, b) + "\n"
    assert main(["compare", str(a)]) == 0
    one = capsys.readouterr().out
    assert one.splitlines()[0].split("|")[1:4] == [" dataset   ", " model   ", " method   "]
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err == (
        f"weightmom compare: error: {tmp_path / 'missing'}: not found; compare reads a results folder's collected "
        "metrics (results/<experiment>)\n"
    )
