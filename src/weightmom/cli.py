"""Command line: `python -m weightmom <step> ...`, one sub-command per pipeline step.

Settings that come from the config (recipes, pruner options, the pruning schedule, a
dataset entry) are passed as JSON objects, exactly as the config holds them.

Each sub-command is bound to its function ("module:function", imported only when it runs)
and its flags' dests are that function's keyword names: the dispatcher calls
function(**arguments), so a step parameter is declared once here, beside its flag. The
flags themselves are what the workflow's rules call: renaming one changes their commands.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import inspect
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from weightmom import __version__
from weightmom.errors import SpecError, WeightMomError

# The workflow sets it from the config's `jobs_per_gpu` for every job it starts: a setting
# of where jobs run, not of what they compute, so changing it reruns nothing.
JOBS_PER_GPU_VARIABLE = "WEIGHTMOM_JOBS_PER_GPU"


def _json(text: str, expected: type, name: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, expected):
        raise argparse.ArgumentTypeError(f"expected a JSON {name}, got {text!r}")
    return value


def _json_object(text: str) -> dict[str, Any]:
    return _json(text, dict, "object")


def _json_list(text: str) -> list[Any]:
    return _json(text, list, "list")


def _png_out(text: str) -> str:
    """A figure's --out: the PNG; the same stem's .pdf and .svg are written beside it."""
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"expected a .png path (the .pdf and .svg go beside it), got {text!r}")
    return text


class _Expect(argparse.Action):
    """Collects the --expect-* flags into one `expect` mapping (load_checkpoint's keywords);
    `dest` (argparse's, from the flag) is replaced by "expect"."""

    def __init__(self, option_strings: Sequence[str], dest: str, key: str, **kwargs: Any) -> None:
        kwargs.setdefault("metavar", _metavar(option_strings[0]))
        super().__init__(option_strings, "expect", default={}, **kwargs)
        self.key = key

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        namespace.expect = {**namespace.expect, self.key: values}


def _add_expectations(command: argparse.ArgumentParser, stage: bool = False) -> None:
    """What the input checkpoint must have been made for (its directory's identity)."""
    command.add_argument(
        "--expect-dataset", action=_Expect, key="dataset", help="refuse a checkpoint made for another dataset"
    )
    command.add_argument(
        "--expect-model", action=_Expect, key="model_name", help="refuse a checkpoint of another model"
    )
    command.add_argument(
        "--expect-seed", action=_Expect, key="seed", type=int, help="refuse a checkpoint of another seed"
    )
    if stage:
        command.add_argument(
            "--expect-method",
            action=_Expect,
            key="method",
            help="refuse a checkpoint of another method ('dense' for round 0)",
        )
        command.add_argument(
            "--expect-round", action=_Expect, key="round_index", type=int, help="refuse a checkpoint of another round"
        )


def _model_names() -> list[str]:
    from weightmom.models import model_names

    return model_names()


def _pruner_names() -> list[str]:
    from weightmom.pruning import pruner_names

    return pruner_names()


def _recipe_keys() -> list[str]:
    from dataclasses import fields

    from weightmom.training.recipe import Recipe

    return [field.name for field in fields(Recipe)]


def _schedule_names() -> list[str]:
    from weightmom.pruning.schedule import SCHEDULES

    return list(SCHEDULES)


#: what an argument's help lists, looked up only when help is shown: every job parses its
#: command line, and the model and pruner registries import torch and every method
CHOICES = {
    "models": ("one of", _model_names),
    "pruners": ("one of", _pruner_names),
    "recipe": ("keys", _recipe_keys),
    "schedules": ("schedule one of", _schedule_names),
}


def _metavar(flag: str) -> str:
    """What help shows for a flag's value: its own name (as argparse would), whatever its dest."""
    return flag.lstrip("-").replace("-", "_").upper()


class _StepParser(argparse.ArgumentParser):
    """A sub-command's parser: a flag whose dest is renamed to its function's keyword keeps its own metavar."""

    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action:
        if "dest" in kwargs and names and names[0].startswith("-"):
            kwargs.setdefault("metavar", _metavar(names[0]))
        return super().add_argument(*names, **kwargs)


class _HelpWithChoices(argparse.HelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str:
        help_text = super()._get_help_string(action) or ""
        listed = getattr(action, "lists", None)
        if listed is None:
            return help_text
        label, names = CHOICES[listed]
        return f"{help_text} ({label}: {', '.join(names())})".lstrip()


def _listing(action: argparse.Action, choices: str) -> None:
    action.lists = choices  # type: ignore[attr-defined]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="weightmom", description=__doc__, formatter_class=_HelpWithChoices)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="step", required=True, parser_class=_StepParser)

    def add(
        name: str, function: str, help_text: str, threads: bool = False, device: bool = False
    ) -> argparse.ArgumentParser:
        """A sub-command bound to `function` ("module:name", imported when it runs), whose
        arguments' dests are that function's keyword names."""
        command = sub.add_parser(name, help=help_text, description=help_text, formatter_class=_HelpWithChoices)
        command.set_defaults(step_function=function)
        if threads:
            command.add_argument("--threads", type=int, required=True, help="CPU threads for torch")
        if device:
            command.add_argument("--device", required=True, help="'auto', 'cpu', 'cuda' or 'cuda:N'")
            command.add_argument(
                "--jobs-per-gpu",
                type=int,
                default=os.environ.get(JOBS_PER_GPU_VARIABLE, "1"),
                help=f"jobs sharing one GPU at most, for --device auto or cuda (default: ${JOBS_PER_GPU_VARIABLE} or 1)",
            )
        return command

    download = add(
        "download",
        "weightmom.steps.data:download_data",
        "Fetch a dataset's archive into --raw-dir (the workflow's data/raw/<md5>/) and check its MD5.",
    )
    download.add_argument("--spec", type=_json_object, required=True, help="the dataset's config entry")
    download.add_argument("--raw-dir", required=True)

    prepare = add(
        "prepare",
        "weightmom.steps.data:prepare_data",
        "Turn a dataset entry of the config into <out-dir>/{train,val,test}.npz.",
    )
    prepare.add_argument("--spec", type=_json_object, required=True, help="the dataset's config entry")
    prepare.add_argument(
        "--raw-dir", required=True, help="where the source's downloads are (the workflow's data/raw/<md5>)"
    )
    prepare.add_argument("--out-dir", required=True)

    train = add("train", "weightmom.steps.train:train_dense", "Train the dense baseline.", threads=True, device=True)
    train.add_argument("--data", dest="data_dir", required=True, help="prepared dataset directory")
    train.add_argument("--dataset", required=True)
    _listing(train.add_argument("--model", dest="model_name", required=True, help="the model"), "models")
    train.add_argument("--seed", type=int, required=True)
    _listing(train.add_argument("--recipe", type=_json_object, required=True, help="training recipe"), "recipe")
    train.add_argument("--snapshot-epochs", type=int, nargs="*", default=[], help="keep the weights after these epochs")
    train.add_argument("--accelerator", type=_json_object, default={}, help="GPU-only speed switches")
    train.add_argument("--out", required=True)
    train.add_argument("--curve-out", help="the per-epoch curve (Parquet; default: curve.parquet beside --out)")
    train.add_argument(
        "--reuse-from",
        help="glob of other experiments' dense run folders: copy a finished run of the same settings instead of training",
    )
    train.add_argument("--reuse-lock-dir", help="where the lock per dense key goes (shared by the experiments)")

    prune = add(
        "prune",
        "weightmom.steps.prune:prune_round",
        "Prune round r from the checkpoint of round r-1, then fine-tune.",
        threads=True,
        device=True,
    )
    prune.add_argument(
        "--checkpoint", dest="checkpoint_path", required=True, help="round r-1 (the dense checkpoint for r=1)"
    )
    prune.add_argument("--data", dest="data_dir", required=True)
    prune.add_argument("--method", required=True, help="the method's name in the config (used in paths and rows)")
    _listing(prune.add_argument("--pruner", dest="pruner_name", required=True, help="registered pruner"), "pruners")
    prune.add_argument("--pruner-options", type=_json_object, required=True)
    _listing(
        prune.add_argument("--pruning", type=_json_object, required=True, help="target_compression, rounds, schedule"),
        "schedules",
    )
    prune.add_argument("--round", dest="round_index", type=int, required=True)
    _listing(prune.add_argument("--recipe", type=_json_object, required=True, help="fine-tuning recipe"), "recipe")
    prune.add_argument("--dense-checkpoint", dest="dense_checkpoint_path", help="needed by methods that rewind weights")
    prune.add_argument("--dense-recipe", type=_json_object, help="needed by methods that rewind the learning rate")
    prune.add_argument("--accelerator", type=_json_object, default={}, help="GPU-only speed switches")
    prune.add_argument("--out", required=True)
    prune.add_argument(
        "--curve-out", help="the per-epoch fine-tuning curve (Parquet; default: curve.parquet beside --out)"
    )
    _add_expectations(prune)

    evaluate = add(
        "evaluate",
        "weightmom.steps.evaluate:evaluate_checkpoint",
        "Evaluate a checkpoint into one metric row and its layer rows.",
        threads=True,
        device=True,
    )
    evaluate.add_argument("--checkpoint", dest="checkpoint_path", required=True)
    evaluate.add_argument("--data", dest="data_dir", required=True)
    evaluate.add_argument("--metrics-out", required=True)
    evaluate.add_argument("--layers-out", required=True)
    evaluate.add_argument("--predictions-out", help="a row per test image: label and predicted class")
    _add_expectations(evaluate, stage=True)

    export = add(
        "export",
        "weightmom.steps.export:export_checkpoint",
        "Write a checkpoint's sparse weight file and ONNX file (both checked) and its export row: file sizes, "
        "the ONNX check, CPU latency beside the dense network's.",
        threads=True,
    )
    export.add_argument("--checkpoint", dest="checkpoint_path", required=True)
    export.add_argument(
        "--dense-checkpoint",
        dest="dense_checkpoint_path",
        required=True,
        help="the dense run of the same model and seed (timed beside it)",
    )
    export.add_argument(
        "--dense-onnx",
        dest="dense_onnx_path",
        help="the dense checkpoint's exported ONNX file (else it is exported again to be timed)",
    )
    export.add_argument(
        "--data", dest="data_dir", required=True, help="prepared dataset directory (its test split checks the exports)"
    )
    export.add_argument("--sparse-out", required=True, help="the sparse weight file (.safetensors)")
    export.add_argument("--onnx-out", required=True)
    export.add_argument("--rows-out", required=True, help="the export row (.parquet)")
    export.add_argument("--repeats", type=int, default=20, help="timed runs per latency (median; after 3 warm-up runs)")
    _add_expectations(export, stage=True)

    collect = add(
        "collect",
        "weightmom.reporting.reports:collect",
        "Gather row files into results/<experiment>/metrics.parquet, layers.parquet and curves.parquet.",
    )
    collect.set_defaults(together=("--curves-out", "--curves-csv"))
    collect.add_argument("--methods", nargs="+", required=True)
    collect.add_argument("--metric-rows", nargs="+", required=True)
    collect.add_argument("--layer-rows", nargs="+", required=True)
    collect.add_argument("--curve-rows", nargs="+", default=[], help="per-epoch curve files of the training jobs")
    collect.add_argument("--metrics-out", required=True)
    collect.add_argument("--layers-out", required=True)
    collect.add_argument("--curves-out", help="the collected curves (Parquet); needs --curves-csv")
    collect.add_argument("--summary-json", required=True, help="top-1 at the target round, for `dvc metrics show`")
    collect.add_argument(
        "--target-round", type=int, required=True, help="the round that reaches the target compression"
    )
    collect.add_argument("--summary-csv", required=True, help="top-1 vs compression for `dvc plots show`")
    collect.add_argument("--curves-csv", help="fine-tuning curves, mean over seeds, for `dvc plots show`")

    collect_exports = add(
        "collect-exports",
        "weightmom.reporting.reports:collect_exports",
        "Gather export rows into results/<experiment>/exports.parquet.",
    )
    collect_exports.add_argument("--export-rows", nargs="+", required=True)
    collect_exports.add_argument("--out", required=True)

    deployment = add(
        "deployment-table",
        "weightmom.reporting.reports:make_deployment_table",
        "Write a table's deployment table (sizes, latency) as <prefix>.md and .csv.",
    )
    deployment.add_argument("--title", required=True)
    deployment.add_argument("--models", nargs="+", required=True)
    deployment.add_argument("--methods", nargs="+", required=True)
    deployment.add_argument("--export-rows", nargs="+", required=True)
    deployment.add_argument("--out-prefix", required=True)

    table = add(
        "table",
        "weightmom.reporting.reports:make_table",
        "Write a paper table as <prefix>.md, .tex, .csv and .parquet.",
    )
    table.add_argument("--title", required=True)
    table.add_argument("--kind", choices=["paper", "ablation"], required=True)
    table.add_argument("--models", nargs="+", required=True)
    table.add_argument("--methods", nargs="+", required=True)
    table.add_argument("--target-compression", type=float, required=True)
    table.add_argument(
        "--tolerance", type=float, required=True, help="accuracy drop (points) for the max-compression column"
    )
    table.add_argument(
        "--method-options", type=_json_object, default={}, help="method -> options, shown in ablation tables"
    )
    table.add_argument("--metric-rows", nargs="+", required=True)
    table.add_argument(
        "--prediction-rows", nargs="*", default=[], help="test predictions at the target (paired bootstrap)"
    )
    table.add_argument("--out-prefix", required=True)

    claims = add(
        "claims",
        "weightmom.reporting.reports:make_claims",
        "Check the paper's claims (C1 accuracy, C2 compression at equal degradation, C3 coverage) as <prefix>.md, "
        ".html, .csv and .parquet.",
    )
    claims.add_argument("--title", required=True)
    claims.add_argument("--method", required=True, help="WeightMom as the paper runs it (the config's claims.method)")
    claims.add_argument("--method-options", type=_json_object, required=True, help="every method -> its options")
    claims.add_argument("--target-compression", type=float, required=True)
    claims.add_argument("--tolerance", type=float, required=True, help="accuracy drop (points) for C2")
    claims.add_argument(
        "--paper-datasets", type=_json_object, required=True, help="dataset -> cifar10, cifar100 or null"
    )
    claims.add_argument("--protocol", type=_json_object, required=True, help="{training, pruning, seeds} of the config")
    claims.add_argument("--metric-rows", nargs="+", required=True)
    claims.add_argument("--prediction-rows", nargs="*", default=[], help="test predictions at the target compression")
    claims.add_argument("--out-prefix", required=True)

    paper = add(
        "paper-table",
        "weightmom.reporting.reports:make_paper_table",
        "The experiment's table in the paper's shape (methods x dataset/network cells) as <prefix>.md, .html and .tex.",
    )
    paper.add_argument("--title", required=True)
    paper.add_argument("--cells", type=_json_list, required=True, help='[["<dataset>", "<model>"], ...] in order')
    paper.add_argument("--methods", nargs="+", required=True)
    paper.add_argument("--claimed", required=True, help="the method the claims check, marked in the table")
    paper.add_argument("--target-compression", type=float, required=True)
    paper.add_argument("--tolerance", type=float, required=True, help="accuracy drop (points) for the compression row")
    paper.add_argument("--last-round", type=int, required=True, help="the runs' last round (a sweep's included)")
    paper.add_argument("--metric-rows", nargs="+", required=True)
    paper.add_argument("--out-prefix", required=True)

    figure = add(
        "figure",
        "weightmom.reporting.reports:make_figure",
        "Plot top-1 against compression for one dataset and model (PNG, PDF and SVG).",
    )
    figure.add_argument("--title", required=True)
    figure.add_argument("--methods", nargs="+", required=True)
    figure.add_argument("--metric-rows", nargs="+", required=True)
    figure.add_argument("--target-compression", type=float, help="marked and ticked on the compression axis")
    figure.add_argument(
        "--out", type=_png_out, required=True, help="the PNG; the same stem's .pdf and .svg are written beside it"
    )

    density = add(
        "density-figure",
        "weightmom.reporting.reports:make_density_figure",
        "Plot each layer's density at the target compression (the rows given), one line per method (PNG, PDF and SVG).",
    )
    density.add_argument("--title", required=True)
    density.add_argument("--methods", nargs="+", required=True)
    density.add_argument("--layer-rows", nargs="+", required=True)
    density.add_argument(
        "--out", type=_png_out, required=True, help="the PNG; the same stem's .pdf and .svg are written beside it"
    )

    curves = add(
        "curves-figure",
        "weightmom.reporting.reports:make_curves_figure",
        "Plot validation top-1 over the fine-tuning epochs of every round, one line per method (PNG, PDF and SVG).",
    )
    curves.add_argument("--title", required=True)
    curves.add_argument("--methods", nargs="+", required=True)
    curves.add_argument("--curve-rows", nargs="+", required=True, help="the dense run's and every round's curve files")
    curves.add_argument(
        "--out", type=_png_out, required=True, help="the PNG; the same stem's .pdf and .svg are written beside it"
    )

    preflight = add(
        "preflight",
        "weightmom.cli:preflight_step",
        "Say what device a run's jobs get and what its training costs, before the first job; refuse a config "
        "that needs a GPU where there is none, or whose training on the CPU would take past --max-cpu-hours.",
        threads=True,
        device=True,
    )
    preflight.add_argument(
        "--plan", required=True, help="JSON file: the training jobs still to run (weightmom.runtime.plan.PlannedJob)"
    )
    preflight.add_argument("--datasets", type=_json_object, required=True, help="the config's datasets")
    preflight.add_argument(
        "--data-root", required=True, help="where prepared datasets are (<root>/<dataset>/train.npz)"
    )
    preflight.add_argument("--accelerator", type=_json_object, default={})
    preflight.add_argument(
        "--max-cpu-hours", type=float, default=2.0, help="stop when training on the CPU would take longer"
    )
    preflight.add_argument(
        "--dry-run", action="store_true", help="print the plan's projected cost (GPU and this CPU), stop nothing"
    )
    preflight.add_argument("--done", type=int, default=0, help="with --dry-run: planned training jobs already made")

    show = add(
        "show",
        "weightmom.reporting.show:show",
        "Print a checkpoint's settings, its masks (density per layer) and its metrics, if it was evaluated.",
    )
    show.add_argument("path", help="a checkpoint file or the folder holding checkpoint.pt")
    show.add_argument("--metrics", dest="metrics_path", help="its metric rows (default: metrics.parquet beside it)")

    compare = add(
        "compare",
        "weightmom.reporting.compare:compare",
        "Print a table of a results folder's final rounds, one row per method; given two, the top-1 of both "
        "experiments side by side for every dataset, model and method they share, with the difference B - A "
        "(paired, with its confidence interval, where both evaluated the same test set).",
    )
    compare.add_argument(
        "results_dir", metavar="A", help="a results folder (results/<experiment>), or its metrics.parquet"
    )
    compare.add_argument("other_dir", metavar="B", nargs="?", help="a second results folder, compared with A")
    return parser


def preflight_step(
    *,
    plan: str,
    datasets: dict[str, Any],
    data_root: str,
    accelerator: dict[str, Any],
    threads: int,
    device: str,
    jobs_per_gpu: int,
    max_cpu_hours: float,
    dry_run: bool,
    done: int,
) -> None:
    from weightmom.runtime.plan import PlannedJob
    from weightmom.runtime.preflight import dry_run_cost, preflight

    try:
        jobs = [PlannedJob(**job) for job in json.loads(Path(plan).read_text())]
    except (OSError, ValueError, TypeError) as exc:
        raise SpecError(f"--plan {plan}: not a list of planned jobs ({exc})") from None
    if dry_run:
        message = dry_run_cost(
            jobs, datasets, data_root, accelerator, threads, max_cpu_hours, done, device, jobs_per_gpu
        )
    else:
        message = preflight(device, jobs, datasets, data_root, accelerator, threads, jobs_per_gpu, max_cpu_hours)
    if message:
        print(message)


#: integer flags that must be at least 1, by dest
AT_LEAST_ONE = {"threads": "--threads", "jobs_per_gpu": "--jobs-per-gpu", "repeats": "--repeats"}


def _check(args: argparse.Namespace) -> None:
    """The checks argparse cannot make: counts of at least 1, flags given together or not at all."""
    for dest, flag in AT_LEAST_ONE.items():
        value = getattr(args, dest, None)
        if value is not None and value < 1:
            raise SpecError(f"{flag} must be >= 1, got {value}")
    if "together" in args:
        first, second = args.together
        if (getattr(args, _dest(first)) is None) != (getattr(args, _dest(second)) is None):
            raise SpecError(f"{args.step}: give {first} and {second} together (or neither)")


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _run(args: argparse.Namespace) -> None:
    _check(args)
    keywords = {key: value for key, value in vars(args).items() if key not in ("step", "step_function", "together")}
    if "threads" in keywords:
        import torch

        torch.set_num_threads(keywords["threads"])
    # Import only the step's own module: every job pays for its imports (torch alone costs a
    # second or more), and the workflow's code digests (weightmom.provenance.codeversion) count on it.
    module_name, function_name = args.step_function.split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    if not gc.isenabled():  # off for the imports (weightmom.__main__): what they made stays, unscanned
        gc.freeze()
        gc.enable()
    if "threads" not in inspect.signature(function).parameters:
        keywords.pop("threads", None)  # the job's, set above; only the export step measures with it
    function(**keywords)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _run(args)
    except WeightMomError as exc:
        print(f"weightmom {args.step}: error: {exc}", file=sys.stderr)
        return 2
    return 0
