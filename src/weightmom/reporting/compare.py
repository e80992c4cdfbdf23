"""`python -m weightmom compare A [B]`.

With one results folder: its final rounds, one row per dataset, model and method (means
over seeds), read from its collected metrics.parquet.

With two (experiments A and B): for every dataset, model and method they share (the dense
network included), the test top-1 of each, the difference B - A and, where both evaluated
the same test set, the paired difference with its 95% interval. Which rounds are compared:
the dense network's round 0; for a method, in each experiment the round nearest (on a log
scale, weightmom.reporting.tables.at_target) to the target compression both ran (the
`pruning.target_compression` of the rounds' settings.json, when A and B record the same
one), else to the highest compression both reached (targets that differ or are not
recorded: the last rounds of a 15x and a 50x run are no comparison of methods). The test
sets are the same when the prepared test splits (data/<dataset>/test.npz) hold the same
images and labels; where a folder no longer holds its split, the labels of its prediction
files, in the split's order, stand in for it (equal labels, images not compared: said so).
The paired difference is over the seeds both ran (a paired t-interval, weightmom.reporting.tables.
mean_interval) or, with a single seed in common, a paired bootstrap over the test images
of the two rounds' prediction files (weightmom.reporting.tables.paired_bootstrap).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tabulate import tabulate

from weightmom.errors import MetricsError
from weightmom.lineage import DENSE

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

METRICS_FILE = "metrics.parquet"
HEADERS = ["dataset", "model", "method", "round", "seeds", "compression (x)", "top-1 (%)", "val top-1 (%)"]
TWO_HEADERS = [
    "dataset",
    "model",
    "method",
    "compared at",
    "seeds (A, B, shared)",
    "A round (x)",
    "B round (x)",
    "A top-1 (%)",
    "B top-1 (%)",
    "B - A (pts)",
    "paired B - A (pts, 95% CI)",
    "paired over",
]
CELL = ["dataset", "model"]
STAGE = ["dataset", "model", "method"]
#: chosen rounds whose mean compressions differ by more than this (relative) are flagged
COMPRESSION_TOLERANCE = 0.01
ROUNDS_NOTE = (
    "Rounds compared: the dense network's round 0; for a method, in each experiment the round nearest "
    "(log scale) to the target compression both ran (pruning.target_compression in the rounds' "
    "settings.json, the same in A and B), else to the highest compression both reached (targets that differ "
    "or are not recorded). Top-1: mean ± std over seeds; B - A: difference of the means."
)


def compare(*, results_dir: str | Path, other_dir: str | Path | None = None) -> None:
    print(final_rounds_table(results_dir) if other_dir is None else two_experiments_table(results_dir, other_dir))


def _read_metrics(results_dir: str | Path) -> tuple[Path, pd.DataFrame]:
    """The experiment folder and its collected metric rows (`results_dir` may name the file)."""
    from weightmom.evaluation.metrics import METRIC_SCHEMA, read_rows

    path = Path(results_dir)
    metrics_file = path / METRICS_FILE if path.is_dir() else path
    if not metrics_file.exists():
        raise MetricsError(
            f"{metrics_file}: not found; compare reads a results folder's collected metrics (results/<experiment>)"
        )
    frame = read_rows([metrics_file], METRIC_SCHEMA)
    if frame.empty:
        raise MetricsError(f"{metrics_file}: holds no metric rows")
    return metrics_file.parent, frame


def final_rounds_table(results_dir: str | Path) -> str:
    """Per dataset and model: the dense network (round 0), then each method's final round:
    seeds, compression, test top-1 as mean ± std over seeds ("no spread over N seeds" where
    they agree exactly), validation top-1 mean."""
    import pandas as pd

    frame = _read_metrics(results_dir)[1]
    dense = frame[frame["round"] == 0].drop_duplicates(["dataset", "model", "seed"]).assign(method=DENSE)
    final = frame[frame["round"] == frame.groupby(["dataset", "model", "method"])["round"].transform("max")]
    shown = pd.concat([dense, final[final["round"] > 0]], ignore_index=True)
    shown = shown.assign(pruned=shown["method"] != DENSE).sort_values(["dataset", "model", "pruned", "method", "seed"])
    rows = [_row(part) for _, part in shown.groupby(["dataset", "model", "pruned", "method"], sort=False)]
    return tabulate(
        rows, headers=HEADERS, tablefmt="github", disable_numparse=True, colalign=("left",) * 3 + ("right",) * 5
    )


def _row(rows: pd.DataFrame) -> list:
    """One table row from the rows of one method's final round, one per seed."""
    top1 = 100 * rows["top1"]
    first = rows.iloc[0]
    return [
        first["dataset"],
        first["model"],
        first["method"],
        int(first["round"]),
        rows["seed"].nunique(),
        f"{rows['compression_ratio'].mean():.2f}",
        f"{top1.mean():.2f}{_spread(top1)}",
        f"{100 * rows['val_top1'].mean():.2f}",
    ]


def _spread(top1: pd.Series) -> str:
    """What follows the mean: ± std; nothing for one seed; "no spread over N seeds" when the
    seeds agree (to weightmom.reporting.tables.AGREE: Series.std of equal floats can be 1e-17, not 0)."""
    from weightmom.reporting.tables import AGREE, no_spread

    if len(top1) < 2:
        return ""
    return f" ({no_spread(len(top1))})" if top1.max() - top1.min() <= AGREE else f" ± {top1.std():.2f}"


# Two experiments side by side.


@dataclass(frozen=True)
class Experiment:
    """One of the two experiments: its name in the output, its folder, its rows by stage."""

    name: str  # "A" or "B"
    folder: Path
    stages: dict[tuple[str, str, str], pd.DataFrame]  # (dataset, model, method) -> its rows, dense: round 0


@dataclass(frozen=True)
class TestSet:
    """What a folder shows of its test split of a dataset: the split file's digest, and the labels in order."""

    digest: str | None
    labels: np.ndarray | None
    where: str


@dataclass(frozen=True)
class Sameness:
    """Whether A and B evaluated the same test set of a dataset (`paired`: differences may be
    paired), in a few words (`verdict`) and how that is known (`how`)."""

    paired: bool
    verdict: str
    how: str


def _experiment(name: str, results_dir: str | Path) -> Experiment:
    folder, frame = _read_metrics(results_dir)
    dense = frame[frame["round"] == 0].drop_duplicates(["dataset", "model", "seed"]).assign(method=DENSE)
    pruned = frame[frame["round"] > 0]
    stages = {}
    for rows in (dense, pruned):
        for key, part in rows.groupby(STAGE):
            stages[tuple(key)] = part
    return Experiment(name, folder, stages)


def two_experiments_table(a_dir: str | Path, b_dir: str | Path) -> str:
    """The comparison of experiments A and B (module docstring): a header naming them, how
    the rounds are chosen and whether each dataset's test sets are the same, the table of
    what they share, and what only one of them has."""
    a, b = _experiment("A", a_dir), _experiment("B", b_dir)
    shared = sorted(set(a.stages) & set(b.stages), key=lambda key: (key[0], key[1], key[2] != DENSE, key[2]))
    datasets = sorted({key[0] for key in shared})
    sameness = {dataset: _same_test_set(a, b, dataset) for dataset in datasets}
    lines = [f"A: {a_dir}", f"B: {b_dir}", ROUNDS_NOTE]
    lines += [
        f"Test set of {dataset}: {same.verdict}, {'paired' if same.paired else 'not paired'} ({same.how})."
        for dataset, same in sameness.items()
    ]
    lines.append("")
    if shared:
        rows = [_pair_row(a, b, key, sameness[key[0]]) for key in shared]
        lines.append(
            tabulate(
                rows,
                headers=TWO_HEADERS,
                tablefmt="github",
                disable_numparse=True,
                colalign=("left",) * 5 + ("right",) * 5 + ("left",) * 2,
            )
        )
    else:
        lines.append("No dataset, model and method in common.")
    only = [_only_in(a, b, a_dir), _only_in(b, a, b_dir)]
    if any(only):
        lines.append("")
        lines += [line for line in only if line]
    return "\n".join(lines)


def _only_in(mine: Experiment, other: Experiment, folder: str | Path) -> str:
    """The line naming what only `mine` has (whole cells, dataset/model, and methods of shared cells), or ""."""
    other_cells = {key[:2] for key in other.stages}
    parts, methods = [], {}
    for key in sorted(set(mine.stages) - set(other.stages)):
        methods.setdefault(key[:2], []).append(key[2])
    for cell, names in methods.items():
        if cell in other_cells:
            parts.append(f"{cell[0]}/{cell[1]}: {', '.join(names)}")
        else:
            parts.append(f"{cell[0]}/{cell[1]} (the whole cell: {', '.join(names)})")
    return f"Only in {mine.name} ({folder}): " + "; ".join(parts) if parts else ""


def _target(folder: Path, rows: pd.DataFrame) -> float | None:
    """The target compression the rounds of `rows` ran for (their settings.json), when they
    record one and only one."""
    targets = set()
    for row in rows.drop_duplicates(["seed", "round"]).itertuples(index=False):
        stage = f"{row.method}/round{row.round}"
        path = folder / "runs" / row.dataset / row.model / f"seed{row.seed}" / stage / "settings.json"
        try:
            targets.add(float(json.loads(path.read_text())["pruning"]["target_compression"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return targets.pop() if len(targets) == 1 else None


def _chosen_rounds(a: Experiment, b: Experiment, key: tuple[str, str, str]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The rows of the rounds compared (one per seed) in A and in B, and what they are compared at."""
    from weightmom.reporting.tables import at_target

    rows_a, rows_b = a.stages[key], b.stages[key]
    if key[2] == DENSE:
        return rows_a, rows_b, "dense"
    target_a, target_b = _target(a.folder, rows_a), _target(b.folder, rows_b)
    if target_a is not None and target_a == target_b:
        at, how = target_a, f"target {target_a:g}x"
    else:
        at = min(rows_a["compression_ratio"].max(), rows_b["compression_ratio"].max())
        targets = f"; targets {_target_text(target_a)}, {_target_text(target_b)}"
        how = f"{at:.2f}x, highest both reach{targets}"
    keys = [*STAGE, "seed"]
    chosen_a, chosen_b = at_target(rows_a, at, keys), at_target(rows_b, at, keys)
    ratio = chosen_a["compression_ratio"].mean() / chosen_b["compression_ratio"].mean()
    if abs(math.log(ratio)) > math.log1p(COMPRESSION_TOLERANCE):
        how += " (compressions differ)"
    return chosen_a, chosen_b, how


def _target_text(target: float | None) -> str:
    return "not recorded" if target is None else f"{target:g}x"


def _rounds_text(rows: pd.DataFrame) -> str:
    """'3 (15.00)': the round (rounds, if seeds differ) and the mean compression."""
    rounds = sorted(rows["round"].unique())
    return f"{'/'.join(str(r) for r in rounds)} ({rows['compression_ratio'].mean():.2f})"


def _pair_row(a: Experiment, b: Experiment, key: tuple[str, str, str], same: Sameness) -> list:
    rows_a, rows_b, how = _chosen_rounds(a, b, key)
    top1_a, top1_b = 100 * rows_a.set_index("seed")["top1"], 100 * rows_b.set_index("seed")["top1"]
    seeds = sorted(set(top1_a.index) & set(top1_b.index))
    paired, basis = _paired(a, b, rows_a, rows_b, seeds, same)
    return [
        *key,
        how,
        f"{len(top1_a)}, {len(top1_b)}, {len(seeds)}",
        _rounds_text(rows_a),
        _rounds_text(rows_b),
        f"{top1_a.mean():.2f}{_spread(top1_a)}",
        f"{top1_b.mean():.2f}{_spread(top1_b)}",
        f"{top1_b.mean() - top1_a.mean():+.2f}",
        paired,
        basis,
    ]


def _paired(
    a: Experiment, b: Experiment, rows_a: pd.DataFrame, rows_b: pd.DataFrame, seeds: list, same: Sameness
) -> tuple[str, str]:
    """The paired difference B - A (points) with its 95% interval or why it has none, and its basis."""
    from weightmom.reporting.tables import DIFFERENCE_SCALE, mean_interval, no_spread, paired_bootstrap

    if not same.paired:
        return "-", f"unpaired: {same.verdict}"
    if not seeds:
        return "-", "unpaired: no seed in common"
    by_seed_a, by_seed_b = rows_a.set_index("seed"), rows_b.set_index("seed")
    diffs = (100 * (by_seed_b.loc[seeds, "top1"] - by_seed_a.loc[seeds, "top1"])).to_numpy()
    text = f"{diffs.mean():+.2f}"
    if len(seeds) >= 2:
        low, high, note = mean_interval(diffs, DIFFERENCE_SCALE)
        basis = f"{len(seeds)} seeds (t)"
    else:
        seed = seeds[0]
        mine, theirs = _correct(b, by_seed_b.loc[seed], seed), _correct(a, by_seed_a.loc[seed], seed)
        if mine is None or theirs is None or len(mine) != len(theirs):
            return text, "1 seed: no interval (no prediction files of both rounds)"
        low, high = paired_bootstrap(mine, theirs, int(seed))
        note = no_spread(len(mine), "test images") if low == high else ""
        basis = f"{len(mine)} test images (bootstrap)"
    if note:
        return f"{text} ({note})", basis
    return f"{text} [{low:+.2f}, {high:+.2f}]", basis


def _correct(experiment: Experiment, row: pd.Series, seed: int) -> np.ndarray | None:
    """Whether the round of `row` (of `seed`) classified each test image right, from its
    prediction file; None without one."""
    from weightmom.evaluation.metrics import PREDICTION_SCHEMA, read_rows

    stage = DENSE if row["round"] == 0 else f"{row['method']}/round{row['round']}"
    run = experiment.folder / "runs" / row["dataset"] / row["model"] / f"seed{seed}"
    path = run / stage / "predictions.parquet"
    if not path.is_file():
        return None
    rows = read_rows([path], PREDICTION_SCHEMA).sort_values("index")
    return (rows["predicted"] == rows["label"]).to_numpy()


def _test_set(experiment: Experiment, dataset: str) -> TestSet:
    """The folder's prepared test split of `dataset` (digest and labels), else the labels of
    one of its prediction files (every checkpoint of a dataset is evaluated on its one split)."""
    import numpy as np

    from weightmom.evaluation.metrics import PREDICTION_SCHEMA, read_rows

    split = experiment.folder / "data" / dataset / "test.npz"
    if split.is_file():
        try:
            with np.load(split, allow_pickle=False) as archive:
                images, labels = archive["images"], archive["labels"]
        except Exception as exc:
            raise MetricsError(f"{split}: unreadable prepared split ({exc})") from None
        hasher = hashlib.sha256(f"{images.dtype} {images.shape} {labels.dtype} {labels.shape};".encode())
        hasher.update(np.ascontiguousarray(images).tobytes())
        hasher.update(np.ascontiguousarray(labels).tobytes())
        return TestSet(hasher.hexdigest(), labels.astype(np.int64), str(split.relative_to(experiment.folder)))
    predictions = sorted((experiment.folder / "runs" / dataset).glob("*/seed*/dense/predictions.parquet"))
    predictions = predictions or sorted((experiment.folder / "runs" / dataset).glob("**/predictions.parquet"))
    if predictions:
        rows = read_rows(predictions[:1], PREDICTION_SCHEMA).sort_values("index")
        where = str(predictions[0].relative_to(experiment.folder))
        return TestSet(None, rows["label"].to_numpy(dtype=np.int64), where)
    return TestSet(None, None, "")


def _same_test_set(a: Experiment, b: Experiment, dataset: str) -> Sameness:
    """Whether A and B evaluated the same test set of `dataset`, and how that is known."""
    import numpy as np

    test_a, test_b = _test_set(a, dataset), _test_set(b, dataset)
    if test_a.digest is not None and test_b.digest is not None:
        if test_a.digest == test_b.digest:
            return Sameness(True, "the same", f"data/{dataset}/test.npz identical in A and B")
        return Sameness(False, "test sets differ", f"data/{dataset}/test.npz differ")
    if test_a.labels is None or test_b.labels is None:
        missing = " and ".join(e.name for e, t in ((a, test_a), (b, test_b)) if t.labels is None)
        return Sameness(
            False,
            "test sets not known to be the same",
            f"{missing} holds neither data/{dataset}/test.npz nor a prediction file",
        )
    if not np.array_equal(test_a.labels, test_b.labels):
        return Sameness(
            False,
            "test sets differ",
            f"their labels differ: {len(test_a.labels)} images in A, {len(test_b.labels)} in B; "
            f"{_sources(test_a, test_b)}",
        )
    return Sameness(
        True,
        "the same labels",
        f"{len(test_a.labels)} test labels identical in order, {_sources(test_a, test_b)}; the images "
        f"themselves not compared: data/{dataset}/test.npz is not in both",
    )


def _sources(test_a: TestSet, test_b: TestSet) -> str:
    """Where the labels compared come from: 'A's and B's <file>', or each one's."""
    if test_a.where == test_b.where:
        return f"A's and B's {test_a.where}"
    return f"A's {test_a.where}, B's {test_b.where}"
