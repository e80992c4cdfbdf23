"""The fixed cost of a pipeline job: each step as the workflow runs it, with next to no work.

Every job is its own process (`python -m weightmom <step> ...`), so each pays for starting
Python, importing torch and the step, loading its inputs, writing its outputs and exiting,
however little it trains. This benchmark runs each step on scikit-learn's digits with one
epoch of a small CNN (the least work a training step takes) and prints, per step, the time
from process start to exit (median and range over repeats) and where it goes: imports,
data, checkpoint loading, model building, optimizer set-up, training epochs, scoring,
evaluation, export work (ONNX export with its imports, the onnxruntime check, the latency
timing), saving, exit, other. The fixed cost is the total less the training epochs.

It runs two trees in the same run, interleaved: this checkout's `src/` and the package of
`--baseline` (a git ref, read with `git archive`), so before and after come from one run on
one machine. Goals on 2 cores: at most 2.5 s of fixed cost per training, pruning or
evaluation job (the paper grid runs them by the thousand).

    python benchmarks/fixed_cost.py                      # against the commit before the cuts
    python benchmarks/fixed_cost.py --baseline HEAD~3 --repeats 7
    python benchmarks/fixed_cost.py --quick              # one repeat, no baseline (the suite)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the last commit before the fixed-cost cuts (issue 25): the default "before"
BEFORE_CUTS = "0395740"
GOAL_SECONDS = 2.5
GOAL_STEPS = ("train", "prune", "evaluate")
RECIPE = {"epochs": 1, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "lr_schedule": "cosine"}

#: what each timed function's own time (less the timed functions it calls) counts as
PHASES = {
    "weightmom.data.splits:load_split": "data",
    "weightmom.training.checkpoint:load_checkpoint": "checkpoint load",
    "weightmom.models:build_model": "model",
    "weightmom.training.loop:make_optimizer": "optimizer set-up",
    "weightmom.training.loop:train": "training epochs",
    "weightmom.evaluation.accuracy:evaluate": "evaluation",
    "weightmom.evaluation.accuracy:predicted_labels": "evaluation",
    "weightmom.evaluation.accuracy:layer_flops": "evaluation",
    "weightmom.steps.prune:_prune_masks": "scoring",
    "weightmom.export.onnx_export:write_onnx": "export work",
    "weightmom.export.onnx_export:check_onnx": "export work",
    "weightmom.export.latency:cpu_latency": "export work",
    "weightmom.training.checkpoint:save_checkpoint": "save",
    "weightmom.training.checkpoint:write_settings": "save",
    "weightmom.evaluation.curves:write_curve": "save",
    "weightmom.evaluation.metrics:write_rows": "save",
    "weightmom.evaluation.metrics:write_table": "save",
    "weightmom.export.sparse_file:save_sparse": "save",
    "weightmom.data.datasets:prepare": "data",
}
ORDER = [
    "interpreter",
    "import torch",
    "import weightmom",
    "data",
    "checkpoint load",
    "model",
    "optimizer set-up",
    "training epochs",
    "scoring",
    "evaluation",
    "export work",
    "save",
    "other",
    "exit",
]
WORK = ("training epochs",)  # what a training step is for, not its fixed cost


def probe() -> None:
    """Run one step under a timer: `fixed_cost.py --probe <launch time> <step args...>`.
    Times imports, wraps PHASES' functions (exclusive time, nested calls subtracted), runs
    the package's own __main__ and reports as JSON on stderr just before the process ends."""
    born = time.time()
    launch = float(sys.argv[2])
    import functools
    import importlib
    import runpy

    phases = {"interpreter": born - launch}
    started = time.perf_counter()
    import torch  # noqa: F401

    phases["import torch"] = time.perf_counter() - started
    step_modules = {
        "train": "weightmom.steps.train",
        "prune": "weightmom.steps.prune",
        "evaluate": "weightmom.steps.evaluate",
        "export": "weightmom.steps.export",
        "prepare": "weightmom.steps.data",
    }
    started = time.perf_counter()
    importlib.import_module("weightmom.cli")
    importlib.import_module(step_modules.get(sys.argv[3], "weightmom.reporting.reports"))
    phases["import weightmom"] = time.perf_counter() - started
    stack: list[float] = []  # time the timed callees of each open call took

    def timed(phase, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            stack.append(0.0)
            begun = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.perf_counter() - begun
                inner = stack.pop()
                phases[phase] = phases.get(phase, 0.0) + spent - inner
                if stack:
                    stack[-1] += spent

        return wrapper

    for target, phase in PHASES.items():
        module_name, name = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        original = getattr(module, name, None)
        if original is None:
            continue
        wrapped = timed(phase, original)
        for loaded in list(sys.modules.values()):  # the names `from x import f` bound too
            if getattr(loaded, "__name__", "").startswith("weightmom") and getattr(loaded, name, None) is original:
                setattr(loaded, name, wrapped)
    main_started = time.perf_counter()

    def report() -> None:
        phases["main"] = time.perf_counter() - main_started
        phases["reported_at"] = time.time()
        print("FIXED-COST " + json.dumps(phases), file=sys.stderr, flush=True)

    real_exit = os._exit

    def reporting_exit(status):
        report()
        real_exit(status)

    os._exit = reporting_exit
    sys.argv = ["weightmom", *sys.argv[3:]]
    try:
        runpy.run_module("weightmom", run_name="__main__", alter_sys=True)
    except SystemExit:
        report()
        raise


def run_step(tree: Path, args: list[str], workdir: Path) -> dict[str, float]:
    launch = time.time()
    run = subprocess.run(
        [sys.executable, __file__, "--probe", repr(launch), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": "1"},
    )
    gone = time.time()
    lines = [line for line in run.stderr.splitlines() if line.startswith("FIXED-COST ")]
    if run.returncode or not lines:
        raise SystemExit(f"{args[0]} failed under {tree}:\n{run.stderr[-3000:]}")
    phases = json.loads(lines[-1].removeprefix("FIXED-COST "))
    phases["exit"] = gone - phases.pop("reported_at")
    in_main = sum(value for key, value in phases.items() if key in set(PHASES.values()))
    phases["other"] = max(0.0, phases.pop("main") - in_main)
    phases["total"] = gone - launch
    phases["fixed"] = phases["total"] - sum(phases.get(key, 0.0) for key in WORK)
    return phases


def step_commands(scratch: Path) -> dict[str, list[str]]:
    """Each step's arguments, as the workflow's rules pass them (paths in `scratch`)."""
    data, out = scratch / "data", scratch / "out"
    dense, round1 = scratch / "runs/dense/checkpoint.pt", scratch / "runs/weightmom/round1/checkpoint.pt"
    spec = json.dumps({"source": "digits", "split_seed": 0, "test_fraction": 0.25, "val_fraction": 0.2})
    pruning = json.dumps({"target_compression": 4, "rounds": 2, "schedule": "geometric"})
    cpu = ["--device", "cpu", "--threads", "1"]
    training = ["--data", str(data), "--recipe", json.dumps(RECIPE), *cpu]
    identity = ["--dataset", "digits", "--model", "cnn", "--seed", "0"]
    method = ["--method", "weightmom", "--pruner", "weightmom", "--pruner-options", "{}", "--pruning", pruning]
    rows = ["--metrics-out", str(out / "eval/metrics.parquet"), "--layers-out", str(out / "eval/layers.parquet")]
    files = ["--sparse-out", str(out / "export/model.safetensors"), "--onnx-out", str(out / "export/model.onnx")]
    return {
        "prepare": ["prepare", "--spec", spec, "--raw-dir", str(scratch / "raw"), "--out-dir", str(data)],
        "train": ["train", *identity, *training, "--out", str(out / "train/checkpoint.pt")],
        "prune": ["prune", "--checkpoint", str(dense), *method, "--round", "1", *training]
        + ["--out", str(out / "prune/checkpoint.pt")],
        "evaluate": ["evaluate", "--checkpoint", str(round1), "--data", str(data), *cpu, *rows],
        "export": ["export", "--checkpoint", str(round1), "--dense-checkpoint", str(dense), "--data", str(data), *files]
        + ["--threads", "1", "--rows-out", str(out / "export/export.parquet")],
    }


def make_inputs(scratch: Path) -> None:
    """The digits data, a dense CNN and one WeightMom round, made with this checkout's code
    (the checkpoint format is the same before and after the cuts)."""
    commands = step_commands(scratch)
    dense = [arg.replace("out/train", "runs/dense") for arg in commands["train"]]
    round1 = [arg.replace("out/prune", "runs/weightmom/round1") for arg in commands["prune"]]
    for args in (commands["prepare"], dense, round1):
        subprocess.run(
            [sys.executable, "-m", "weightmom", *args],
            cwd=scratch,
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )


def baseline_tree(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", ref, "src"], cwd=ROOT, capture_output=True, check=True).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def summarise(name: str, runs: list[dict[str, float]]) -> tuple[float, float, float]:
    totals, fixed = [r["total"] for r in runs], [r["fixed"] for r in runs]
    parts = ", ".join(
        f"{key} {statistics.median(r.get(key, 0.0) for r in runs):.2f}"
        for key in ORDER
        if statistics.median(r.get(key, 0.0) for r in runs) >= 0.005
    )
    print(
        f"  {name:<7} total {statistics.median(totals):5.2f} s [{min(totals):.2f}..{max(totals):.2f}]"
        f"  fixed {statistics.median(fixed):5.2f} s [{min(fixed):.2f}..{max(fixed):.2f}]"
    )
    print(f"          {parts}")
    return statistics.median(totals), statistics.median(fixed), max(fixed) - min(fixed)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":
        probe()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline", default=BEFORE_CUTS, help="git ref of the 'before' package (default: before the cuts)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", nargs="+", default=["prepare", "train", "prune", "evaluate", "export"])
    parser.add_argument("--quick", action="store_true", help="one repeat of this checkout only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        make_inputs(scratch)
        trees = (
            {"after": ROOT}
            if args.quick
            else {"before": baseline_tree(args.baseline, scratch / "before"), "after": ROOT}
        )
        repeats = 1 if args.quick else args.repeats
        commands = step_commands(scratch)
        results: dict[str, dict[str, list]] = {label: {step: [] for step in args.steps} for label in trees}
        for _ in range(repeats):  # interleaved, so load on the machine falls on both alike
            for step in args.steps:
                for label, tree in trees.items():
                    results[label][step].append(run_step(tree, commands[step], scratch))
    print(f"Fixed cost per job: digits, a small CNN, 1 epoch; {repeats} repeat(s); seconds, median [min..max]")
    medians = {}
    for label in trees:
        ref = f" ({args.baseline})" if label == "before" else " (this checkout)"
        print(f"\n{label}{ref}:")
        medians[label] = {step: summarise(step, results[label][step]) for step in args.steps}
    if "before" in medians:
        print("\nafter / before (fixed cost):")
        for step in args.steps:
            print(
                f"  {step:<8} {medians['after'][step][1]:.2f} / {medians['before'][step][1]:.2f} = "
                f"{medians['after'][step][1] / medians['before'][step][1]:.2f}"
            )
    counted = [step for step in args.steps if step in GOAL_STEPS]
    if counted:
        worst = max(medians["after"][step][1] for step in counted)
        verdict = "met" if worst <= GOAL_SECONDS else "NOT met"
        print(
            f"\ngoal: at most {GOAL_SECONDS} s of fixed cost per training, pruning or evaluation job: {verdict} "
            f"(worst median {worst:.2f} s)"
        )
    over = [
        f"{step} {medians['after'][step][1]:.2f} s" for step in args.steps if medians["after"][step][1] > GOAL_SECONDS
    ]
    if over:
        print(f"over {GOAL_SECONDS} s: " + ", ".join(over))
    return 0


if __name__ == "__main__":
    sys.exit(main())
