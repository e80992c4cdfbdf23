# Helpers shared by the rules: paths of the file contract and the table -> runs mapping.
import json
import os
import re
import sys
from pathlib import Path

from weightmom.provenance.codeversion import step_digest
from weightmom.runtime.plan import total_rounds
from weightmom.data.sources import archive_address, folder_fingerprint, is_address, local_archive


# How many jobs may share one GPU reaches the jobs through the environment, not as a
# params value: it says where jobs run, not what they compute, so changing it reruns
# nothing (weightmom.cli reads it as the default of --jobs-per-gpu).
os.environ.update(WEIGHTMOM_JOBS_PER_GPU=str(config["jobs_per_gpu"]))


# Jobs run `python -m weightmom`. The interpreter running Snakemake has the package
# installed (see the Makefile), so its directory goes first on PATH: the jobs then find it
# whether or not the user activated the virtual environment.
envvars:
    "PATH",


SEARCH_PATH = os.environ["PATH"]
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), SEARCH_PATH])
# Everything an experiment makes lives under its own folders, so experiments (the demo,
# the paper grid, a user's configs) share a checkout without overwriting each other. Two
# things are shared: downloads (data/raw/<md5>/ holds an archive by its checksum) and dense
# runs, which the train step copies from another experiment's folder when the data, model,
# seed, dense recipe, accelerator, device type and training code are the same
# (weightmom.training.reuse): a second experiment trains no dense model.
EXPERIMENT = config["experiment"]
OUT = f"results/{EXPERIMENT}"
LOGS = f"logs/{EXPERIMENT}"


def dense_runs_elsewhere(dataset, model, seed):
    """Where the train step looks for a finished dense run of the same settings: the same
    dataset, model and seed in every experiment's folder."""
    return f"results/*/runs/{dataset}/{model}/seed{seed}/dense"

# Round TARGET_ROUND reaches the target compression (tables, exports and claims at the
# target read it); a sweep's rounds go on past it, to ROUNDS.
TARGET_ROUND = config["pruning"]["rounds"]
ROUNDS = total_rounds(config["pruning"])
METHODS = list(config["methods"])


# The `gpu` resource of every job that trains or evaluates: one GPU unless the config runs
# on the CPU. Locally `snakemake --resources gpu=N` runs at most N such jobs at once (each
# on its own device, weightmom.runtime.gpu_slots); on SLURM it is the job's GPU request.
GPU_JOBS = 0 if config["device"] == "cpu" else 1


def as_json(value):
    return json.dumps(value, sort_keys=True)


def raw_dir(dataset):
    """Where a source's downloads and unpacked files go: by the archive's MD5 (two
    experiments reading the same archive share one copy), by dataset name without one."""
    spec = config["datasets"][dataset]
    return f"data/raw/{spec['md5']}" if "md5" in spec else f"data/raw/{dataset}"


def download_spec(wildcards):
    """The dataset entry whose archive is data/raw/<md5>/<archive>."""
    return next(spec for spec in config["datasets"].values() if spec.get("md5") == wildcards.md5)


def raw_inputs(wildcards):
    """The archive a source downloads: its copy in data/raw/<md5>/, made by the download
    rule; nothing for the other sources. A local archive is no input: its identity is its
    MD5 (a config key, so a params change), its modification time does not count (a copy
    made again prepares nothing again), and a clone that pulled the prepared data need not
    have it. The prepare job checks it and names it when it is missing."""
    spec = config["datasets"][wildcards.dataset]
    location = archive_address(spec)
    if location is None or not is_address(location):
        return []
    return ancient(str(local_archive(spec, Path(raw_dir(wildcards.dataset)))))


def image_fingerprint(wildcards):
    """For an imagefolder `root`, a digest of its files: a params change when images change."""
    spec = config["datasets"][wildcards.dataset]
    return folder_fingerprint(spec["root"]) if "root" in spec else ""


def table_methods(table):
    return config["tables"][table].get("methods", METHODS)


def snapshot_epochs():
    """Dense epochs whose weights a method rewinds to (the `rewind_epoch` option)."""
    return sorted({m["rewind_epoch"] for m in config["methods"].values() if "rewind_epoch" in m})


def run_dir(dataset, model, seed):
    return f"{OUT}/runs/{dataset}/{model}/seed{seed}"


def method_code(wildcards):
    """The digest of the code a pruning round of this method runs (weightmom.provenance.codeversion)."""
    return step_digest("prune", config["methods"][wildcards.method]["pruner"])


def step_group(wildcards):
    """Cluster submission a job belongs to: a checkpoint's evaluation goes with the job
    that made it (one sbatch job per dense run or pruning round). Local runs ignore groups."""
    stage = wildcards.get("stage") or (f"{wildcards.method}-round{wildcards.round}" if "method" in wildcards.keys() else "dense")
    return re.sub(r"\W", "-", f"{wildcards.dataset}-{wildcards.model}-seed{wildcards.seed}-{stage}")


def stage_dirs(table, models=None, final_only=False):
    """Checkpoint directories a table needs: per model and seed the dense run and each
    method's rounds; or, with `final_only`, each method's round at the target compression."""
    spec = config["tables"][table]
    rounds = [TARGET_ROUND] if final_only else range(1, ROUNDS + 1)
    dirs = []
    for model in models or spec["models"]:
        for seed in config["seeds"]:
            base = run_dir(spec["dataset"], model, seed)
            if not final_only:
                dirs.append(f"{base}/dense")
            dirs.extend(f"{base}/{method}/round{r}" for method in table_methods(table) for r in rounds)
    return dirs


def table_rows(table, kind="metrics", model=None, final_only=False):
    """Row files of a table's checkpoints (`kind`: metrics, layers, or curve, the training
    jobs' per-epoch rows), optionally of one model or of the last round only."""
    models = None if model is None else [model]
    return [f"{d}/{kind}.parquet" for d in stage_dirs(table, models, final_only)]


def all_metric_rows(kind):
    dirs = sorted({d for table in config["tables"] for d in stage_dirs(table)})
    return [f"{d}/{kind}.parquet" for d in dirs]


def round_pruning(round_index):
    """The pruning settings a round depends on: the sweep only for the rounds past the
    target, so adding or changing a sweep leaves rounds 1..TARGET_ROUND as they are."""
    if round_index <= TARGET_ROUND:
        return {key: value for key, value in config["pruning"].items() if key != "sweep"}
    return config["pruning"]


def previous_checkpoint(wildcards):
    r = int(wildcards.round)
    base = run_dir(wildcards.dataset, wildcards.model, wildcards.seed)
    if r == 1:
        return f"{base}/dense/checkpoint.pt"
    return f"{base}/{wildcards.method}/round{r - 1}/checkpoint.pt"


def target_rows(kind):
    """Row files (`kind`) of every table's checkpoints at the target compression."""
    dirs = sorted({d for table in config["tables"] for d in stage_dirs(table, final_only=True)})
    return [f"{d}/{kind}.parquet" for d in dirs]


def paper_datasets():
    """Which of the paper's datasets each dataset stands for (weightmom.reporting.claims, C3)."""
    named = config["claims"]["paper_datasets"]
    return {
        name: spec["source"] if spec["source"] in ("cifar10", "cifar100") else named.get(name)
        for name, spec in config["datasets"].items()
    }


def paper_cells():
    """The paper table's (dataset, model) cells and methods: those of the config's paper-kind
    tables (all tables when it has none), in config order."""
    tables = [t for t in config["tables"].values() if t["kind"] == "paper"] or list(config["tables"].values())
    cells = list(dict.fromkeys((t["dataset"], m) for t in tables for m in t["models"]))
    chosen = {m for t in tables for m in t.get("methods", METHODS)}
    return cells, [m for m in METHODS if m in chosen]


def paper_table_targets():
    return expand(f"{OUT}/tables/paper.{{ext}}", ext=["md", "html", "tex"])


def claims_targets():
    return expand(f"{OUT}/tables/claims.{{ext}}", ext=["md", "html", "csv", "parquet"])


def table_targets(table):
    return expand(f"{OUT}/tables/{{table}}.{{ext}}", table=table, ext=["md", "tex", "html", "csv", "parquet"])


def figure_targets(table):
    """Each figure as PNG (the report's) and PDF and SVG (for print)."""
    return expand(
        f"{OUT}/figures/{{table}}/{{model}}_{{kind}}.{{ext}}",
        table=table,
        model=config["tables"][table]["models"],
        kind=["accuracy", "density", "curves"],
        ext=["png", "pdf", "svg"],
    )


def figure_title(wildcards, what):
    """`<dataset> / <model>: <what>`; an ablation table's figures say so."""
    spec = config["tables"][wildcards.table]
    kind = "WeightMom ablation, " if spec["kind"] == "ablation" else ""
    return f"{spec['dataset']} / {wildcards.model}: {kind}{what}"


def export_dirs(table=None):
    """Checkpoint directories exported: per model and seed of a table (of every table
    without one), the dense run and each method's round at the target compression."""
    dirs = set()
    for name in [table] if table else config["tables"]:
        spec = config["tables"][name]
        dirs.update(f"{run_dir(spec['dataset'], model, seed)}/dense" for model in spec["models"] for seed in config["seeds"])
        dirs.update(stage_dirs(name, final_only=True))
    return sorted(dirs)


def export_rows(table=None):
    return [f"{d}/export.parquet" for d in export_dirs(table)]


def export_targets():
    """The exported files (a deleted one comes back, as a checkpoint does), the collected
    rows and every table's deployment table."""
    files = [f"{d}/{name}" for d in export_dirs() for name in ("model.safetensors", "model.onnx")]
    tables = expand(f"{OUT}/tables/deployment/{{table}}.{{ext}}", table=list(config["tables"]), ext=["md", "html", "csv"])
    return [f"{OUT}/exports.parquet", *tables, *files]


def all_targets():
    """Every checkpoint is a target too: Snakemake does not remake a deleted intermediate
    file whose consumers are up to date, and a checkpoint must come back when deleted."""
    checkpoints = sorted({f"{d}/checkpoint.pt" for table in config["tables"] for d in stage_dirs(table)})
    targets = [f"{OUT}/metrics.parquet", f"{OUT}/layers.parquet", f"{OUT}/curves.parquet", f"{OUT}/summary/metrics.json", *checkpoints]
    for table in config["tables"]:
        targets += table_targets(table) + figure_targets(table)
    return targets + claims_targets() + paper_table_targets() + export_targets()


def made_summary():
    """The last lines of a finished run: what it made, and where."""
    tables = ", ".join(config["tables"])
    return "\n".join(
        [
            f"Done. Experiment {EXPERIMENT!r}: everything is under {OUT}/ (logs under {LOGS}/)",
            f"  claims    {OUT}/tables/claims.md: the paper's claims, checked (also .html, .csv, .parquet)",
            f"  paper     {OUT}/tables/paper.md: methods x (dataset, network), top-1 and compression (also .tex, .html)",
            f"  tables    {OUT}/tables/<table>.md, .tex, .html, .csv, .parquet for {tables}",
            f"  figures   {OUT}/figures/<table>/<model>_accuracy.png, _density.png and _curves.png (also .pdf, .svg)",
            f"  metrics   {OUT}/metrics.parquet (a row per checkpoint), {OUT}/layers.parquet (a row per layer)",
            f"  curves    {OUT}/curves.parquet (a row per training epoch of every dense run and round)",
            f"  exports   {OUT}/runs/.../{{dense,<method>/round{TARGET_ROUND}}}/model.safetensors and model.onnx; sizes and latency"
            f" in {OUT}/exports.parquet and {OUT}/tables/deployment/<table>.md",
            f"  report    snakemake --report {OUT}/report.html --configfile <this config>: every table and figure in one file",
        ]
    )


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    table="|".join(config["tables"]),
    method="|".join(METHODS),
    model="|".join(sorted({m for t in config["tables"].values() for m in t["models"]})),
    seed=r"\d+",
    md5=r"[0-9a-f]{32}",
    round=r"[1-9]\d*",
