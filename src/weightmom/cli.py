"""Command line: `python -m weightmom <step> ...`, one sub-command per pipeline step.

Settings that come from the config (recipes, pruner options, the pruning schedule, a
dataset entry) are passed as JSON objects, exactly as the config holds them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from weightmom.errors import SpecError, WeightMomError

# The workflow sets it from the config's `jobs_per_gpu` for every job it starts: a setting
# of where jobs run, not of what they compute, so changing it reruns nothing.
JOBS_PER_GPU_VARIABLE = "WEIGHTMOM_JOBS_PER_GPU"


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _add_expectations(command: argparse.ArgumentParser, stage: bool = False) -> None:
    """What the input checkpoint must have been made for (its directory's identity)."""
    command.add_argument("--expect-dataset", help="refuse a checkpoint made for another dataset")
    command.add_argument("--expect-model", help="refuse a checkpoint of another model")
    command.add_argument("--expect-seed", type=int, help="refuse a checkpoint of another seed")
    if stage:
        command.add_argument("--expect-method", help="refuse a checkpoint of another method ('dense' for round 0)")
        command.add_argument("--expect-round", type=int, help="refuse a checkpoint of another round")


def _expectations(args: argparse.Namespace) -> dict[str, Any]:
    given = {
        "dataset": args.expect_dataset, "model_name": args.expect_model, "seed": args.expect_seed,
        "method": getattr(args, "expect_method", None), "round_index": getattr(args, "expect_round", None),
    }
    return {key: value for key, value in given.items() if value is not None}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weightmom", description=__doc__)
    sub = parser.add_subparsers(dest="step", required=True)

    def add(name: str, help_text: str, threads: bool = False, device: bool = False) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        if threads:
            command.add_argument("--threads", type=int, required=True, help="CPU threads for torch")
        if device:
            command.add_argument("--device", required=True, help="'auto', 'cpu', 'cuda' or 'cuda:N'")
            command.add_argument(
                "--jobs-per-gpu", type=int, default=os.environ.get(JOBS_PER_GPU_VARIABLE, "1"),
                help=f"jobs sharing one GPU at most, for --device auto or cuda (default: ${JOBS_PER_GPU_VARIABLE} or 1)",
            )
        return command

    download = add("download", "Fetch a dataset's archive into --raw-dir (the workflow's data/raw/<md5>/) and check its MD5.")
    download.add_argument("--spec", type=_json_object, required=True, help="the dataset's config entry")
    download.add_argument("--raw-dir", required=True)

    prepare = add("prepare", "Turn a dataset entry of the config into <out-dir>/{train,val,test}.npz.")
    prepare.add_argument("--spec", type=_json_object, required=True, help="the dataset's config entry")
    prepare.add_argument("--raw-dir", required=True, help="where the source's downloads are (the workflow's data/raw/<md5>)")
    prepare.add_argument("--out-dir", required=True)

    train = add("train", "Train the dense baseline.", threads=True, device=True)
    train.add_argument("--data", required=True, help="prepared dataset directory")
    train.add_argument("--dataset", required=True)
    train.add_argument("--model", required=True)
    train.add_argument("--seed", type=int, required=True)
    train.add_argument("--recipe", type=_json_object, required=True)
    train.add_argument("--snapshot-epochs", type=int, nargs="*", default=[], help="keep the weights after these epochs")
    train.add_argument("--accelerator", type=_json_object, default={}, help="GPU-only speed switches")
    train.add_argument("--out", required=True)
    train.add_argument("--curve-out", help="the per-epoch curve (Parquet; default: curve.parquet beside --out)")

    prune = add("prune", "Prune round r from the checkpoint of round r-1, then fine-tune.", threads=True, device=True)
    prune.add_argument("--checkpoint", required=True, help="round r-1 (the dense checkpoint for r=1)")
    prune.add_argument("--data", required=True)
    prune.add_argument("--method", required=True, help="the method's name in the config (used in paths and rows)")
    prune.add_argument("--pruner", required=True, help="registered pruner, e.g. weightmom, magnitude")
    prune.add_argument("--pruner-options", type=_json_object, required=True)
    prune.add_argument("--pruning", type=_json_object, required=True, help="target_compression, rounds, schedule")
    prune.add_argument("--round", type=int, required=True)
    prune.add_argument("--recipe", type=_json_object, required=True, help="fine-tuning recipe")
    prune.add_argument("--dense-checkpoint", help="needed by methods that rewind weights")
    prune.add_argument("--dense-recipe", type=_json_object, help="needed by methods that rewind the learning rate")
    prune.add_argument("--accelerator", type=_json_object, default={}, help="GPU-only speed switches")
    prune.add_argument("--out", required=True)
    prune.add_argument("--curve-out", help="the per-epoch fine-tuning curve (Parquet; default: curve.parquet beside --out)")
    _add_expectations(prune)

    evaluate = add("evaluate", "Evaluate a checkpoint into one metric row and its layer rows.", threads=True, device=True)
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--metrics-out", required=True)
    evaluate.add_argument("--layers-out", required=True)
    evaluate.add_argument("--predictions-out", help="a row per test image: label and predicted class")
    _add_expectations(evaluate, stage=True)

    export = add(
        "export",
        "Write a checkpoint's sparse weight file and ONNX file (both checked) and its export row: file sizes, "
        "the ONNX check, CPU latency beside the dense network's.",
        threads=True,
    )
    export.add_argument("--checkpoint", required=True)
    export.add_argument("--dense-checkpoint", required=True, help="the dense run of the same model and seed (timed beside it)")
    export.add_argument("--dense-onnx", help="the dense checkpoint's exported ONNX file (else it is exported again to be timed)")
    export.add_argument("--data", required=True, help="prepared dataset directory (its test split checks the exports)")
    export.add_argument("--sparse-out", required=True, help="the sparse weight file (.safetensors)")
    export.add_argument("--onnx-out", required=True)
    export.add_argument("--rows-out", required=True, help="the export row (.parquet)")
    export.add_argument("--repeats", type=int, default=20, help="timed runs per latency (median; after 3 warm-up runs)")
    _add_expectations(export, stage=True)

    collect = add("collect", "Gather row files into results/<experiment>/metrics.parquet, layers.parquet and curves.parquet.")
    collect.add_argument("--methods", nargs="+", required=True)
    collect.add_argument("--metric-rows", nargs="+", required=True)
    collect.add_argument("--layer-rows", nargs="+", required=True)
    collect.add_argument("--curve-rows", nargs="+", default=[], help="per-epoch curve files of the training jobs")
    collect.add_argument("--metrics-out", required=True)
    collect.add_argument("--layers-out", required=True)
    collect.add_argument("--curves-out", help="the collected curves (Parquet); needs --curves-csv")
    collect.add_argument("--summary-json", required=True, help="final-round summary for `dvc metrics show`")
    collect.add_argument("--summary-csv", required=True, help="top-1 vs compression for `dvc plots show`")
    collect.add_argument("--curves-csv", help="fine-tuning curves, mean over seeds, for `dvc plots show`")

    collect_exports = add("collect-exports", "Gather export rows into results/<experiment>/exports.parquet.")
    collect_exports.add_argument("--export-rows", nargs="+", required=True)
    collect_exports.add_argument("--out", required=True)

    deployment = add("deployment-table", "Write a table's deployment table (sizes, latency) as <prefix>.md and .csv.")
    deployment.add_argument("--title", required=True)
    deployment.add_argument("--models", nargs="+", required=True)
    deployment.add_argument("--methods", nargs="+", required=True)
    deployment.add_argument("--export-rows", nargs="+", required=True)
    deployment.add_argument("--out-prefix", required=True)

    table = add("table", "Write a paper table as <prefix>.md, .tex, .csv and .parquet.")
    table.add_argument("--title", required=True)
    table.add_argument("--kind", choices=["paper", "ablation"], required=True)
    table.add_argument("--models", nargs="+", required=True)
    table.add_argument("--methods", nargs="+", required=True)
    table.add_argument("--target-compression", type=float, required=True)
    table.add_argument("--tolerance", type=float, required=True, help="accuracy drop (points) for the max-compression column")
    table.add_argument("--method-options", type=_json_object, default={}, help="method -> options, shown in ablation tables")
    table.add_argument("--metric-rows", nargs="+", required=True)
    table.add_argument("--prediction-rows", nargs="*", default=[], help="final rounds' test predictions (paired bootstrap)")
    table.add_argument("--out-prefix", required=True)

    figure = add("figure", "Plot top-1 against compression for one dataset and model.")
    figure.add_argument("--title", required=True)
    figure.add_argument("--methods", nargs="+", required=True)
    figure.add_argument("--metric-rows", nargs="+", required=True)
    figure.add_argument("--target-compression", type=float, help="marked and ticked on the compression axis")
    figure.add_argument("--out", required=True)

    density = add("density-figure", "Plot each layer's density after the final round, one line per method.")
    density.add_argument("--title", required=True)
    density.add_argument("--methods", nargs="+", required=True)
    density.add_argument("--layer-rows", nargs="+", required=True)
    density.add_argument("--out", required=True)

    curves = add("curves-figure", "Plot validation top-1 over the fine-tuning epochs of every round, one line per method.")
    curves.add_argument("--title", required=True)
    curves.add_argument("--methods", nargs="+", required=True)
    curves.add_argument("--curve-rows", nargs="+", required=True, help="the dense run's and every round's curve files")
    curves.add_argument("--out", required=True)
    preflight = add(
        "preflight", "Say what device a run's jobs get, before the first; refuse a config that needs a GPU where there is none.",
        threads=True, device=True,
    )
    preflight.add_argument("--plan", required=True, help="JSON file: the training jobs still to run (weightmom.plan.PlannedJob)")
    preflight.add_argument("--datasets", type=_json_object, required=True, help="the config's datasets")
    preflight.add_argument("--data-root", required=True, help="where prepared datasets are (<root>/<dataset>/train.npz)")
    preflight.add_argument("--accelerator", type=_json_object, default={})
    return parser


def _preflight(args: argparse.Namespace) -> None:
    from weightmom.plan import PlannedJob
    from weightmom.preflight import preflight

    try:
        jobs = [PlannedJob(**job) for job in json.loads(Path(args.plan).read_text())]
    except (OSError, ValueError, TypeError) as exc:
        raise SpecError(f"--plan {args.plan}: not a list of planned jobs ({exc})") from None
    message = preflight(
        args.device, jobs, args.datasets, args.data_root, args.accelerator, args.threads, args.jobs_per_gpu
    )
    if message:
        print(message)


def _run(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None) is not None:
        import torch

        if args.threads < 1:
            raise SpecError(f"--threads must be >= 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if getattr(args, "jobs_per_gpu", 1) < 1:
        raise SpecError(f"--jobs-per-gpu must be >= 1, got {args.jobs_per_gpu}")
    if args.step == "preflight":
        return _preflight(args)
    # Import only the step's own module: every job pays for its imports (torch alone costs a
    # second or more), and the workflow's code digests (weightmom.codeversion) count on it.
    if args.step in ("collect", "collect-exports", "deployment-table", "table", "figure", "density-figure", "curves-figure"):
        from weightmom import reports as steps
    elif args.step in ("download", "prepare"):
        from weightmom.steps import data as steps
    elif args.step == "train":
        from weightmom.steps import train as steps
    elif args.step == "prune":
        from weightmom.steps import prune as steps
    elif args.step == "export":
        from weightmom.steps import export as steps
    else:
        from weightmom.steps import evaluate as steps
    if args.step == "download":
        steps.download_data(args.spec, args.raw_dir)
    elif args.step == "prepare":
        steps.prepare_data(args.spec, args.raw_dir, args.out_dir)
    elif args.step == "train":
        steps.train_dense(
            data_dir=args.data, dataset=args.dataset, model_name=args.model, seed=args.seed,
            recipe=args.recipe, snapshot_epochs=args.snapshot_epochs, accelerator=args.accelerator,
            device=args.device, jobs_per_gpu=args.jobs_per_gpu, out=args.out, curve_out=args.curve_out,
        )
    elif args.step == "prune":
        steps.prune_round(
            checkpoint_path=args.checkpoint, data_dir=args.data, method=args.method, pruner_name=args.pruner,
            pruner_options=args.pruner_options, pruning=args.pruning, round_index=args.round,
            recipe=args.recipe, dense_checkpoint_path=args.dense_checkpoint, dense_recipe=args.dense_recipe,
            accelerator=args.accelerator, device=args.device, jobs_per_gpu=args.jobs_per_gpu, out=args.out,
            curve_out=args.curve_out, expect=_expectations(args),
        )
    elif args.step == "evaluate":
        steps.evaluate_checkpoint(
            checkpoint_path=args.checkpoint, data_dir=args.data, device=args.device, jobs_per_gpu=args.jobs_per_gpu,
            metrics_out=args.metrics_out, layers_out=args.layers_out, predictions_out=args.predictions_out,
            expect=_expectations(args),
        )
    elif args.step == "export":
        if args.repeats < 1:
            raise SpecError(f"--repeats must be >= 1, got {args.repeats}")
        steps.export_checkpoint(
            checkpoint_path=args.checkpoint, dense_checkpoint_path=args.dense_checkpoint,
            dense_onnx_path=args.dense_onnx, data_dir=args.data,
            threads=args.threads, sparse_out=args.sparse_out, onnx_out=args.onnx_out, rows_out=args.rows_out,
            expect=_expectations(args), repeats=args.repeats,
        )
    elif args.step == "collect-exports":
        steps.collect_exports(export_rows=args.export_rows, out=args.out)
    elif args.step == "deployment-table":
        steps.make_deployment_table(
            title=args.title, models=args.models, methods=args.methods, export_rows=args.export_rows,
            out_prefix=args.out_prefix,
        )
    elif args.step == "collect":
        if (args.curves_out is None) != (args.curves_csv is None):
            raise SpecError("collect: give --curves-out and --curves-csv together (or neither)")
        steps.collect(
            metric_rows=args.metric_rows, layer_rows=args.layer_rows, methods=args.methods,
            metrics_out=args.metrics_out, layers_out=args.layers_out,
            summary_json=args.summary_json, summary_csv=args.summary_csv,
            curve_rows=args.curve_rows, curves_out=args.curves_out, curves_csv=args.curves_csv,
        )
    elif args.step == "table":
        steps.make_table(
            title=args.title, kind=args.kind, metric_rows=args.metric_rows, models=args.models, methods=args.methods,
            target_compression=args.target_compression, tolerance=args.tolerance,
            method_options=args.method_options, out_prefix=args.out_prefix, prediction_rows=args.prediction_rows,
        )
    elif args.step == "figure":
        steps.make_figure(
            title=args.title, metric_rows=args.metric_rows, methods=args.methods, out=args.out,
            target_compression=args.target_compression,
        )
    elif args.step == "density-figure":
        steps.make_density_figure(title=args.title, layer_rows=args.layer_rows, methods=args.methods, out=args.out)
    elif args.step == "curves-figure":
        steps.make_curves_figure(title=args.title, curve_rows=args.curve_rows, methods=args.methods, out=args.out)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _run(args)
    except WeightMomError as exc:
        print(f"weightmom {args.step}: error: {exc}", file=sys.stderr)
        return 2
    return 0
