# Helpers shared by the rules: paths of the file contract and the table -> runs mapping.
import json
import os
import sys
from pathlib import Path

from weightmom.sources import archive_address, folder_fingerprint, local_archive


# Jobs run `python -m weightmom`. The interpreter running Snakemake has the package
# installed (see the Makefile), so its directory goes first on PATH: the jobs then find it
# whether or not the user activated the virtual environment.
envvars:
    "PATH",


SEARCH_PATH = os.environ["PATH"]
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), SEARCH_PATH])
ROUNDS = config["pruning"]["rounds"]
METHODS = list(config["methods"])


def as_json(value):
    return json.dumps(value, sort_keys=True)


def raw_inputs(wildcards):
    """The archive a source reads: an address's copy in data/raw/<dataset>/ (made by the
    download rule), or a local archive itself, so that replacing it prepares the data
    again; nothing for the other sources."""
    spec = config["datasets"][wildcards.dataset]
    location = archive_address(spec)
    if location is None:
        return []
    return str(local_archive(spec, Path(f"data/raw/{wildcards.dataset}")))


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
    return f"results/{dataset}/{model}/seed{seed}"


def stage_dirs(table, models=None, final_only=False):
    """Checkpoint directories a table needs: per model and seed the dense run and each
    method's rounds; or, with `final_only`, each method's last round alone."""
    spec = config["tables"][table]
    rounds = [ROUNDS] if final_only else range(1, ROUNDS + 1)
    dirs = []
    for model in models or spec["models"]:
        for seed in config["seeds"]:
            base = run_dir(spec["dataset"], model, seed)
            if not final_only:
                dirs.append(f"{base}/dense")
            dirs.extend(f"{base}/{method}/round{r}" for method in table_methods(table) for r in rounds)
    return dirs


def table_rows(table, kind="metrics", model=None, final_only=False):
    """Row files of a table's checkpoints, optionally of one model or of the last round only."""
    models = None if model is None else [model]
    return [f"{d}/{kind}.parquet" for d in stage_dirs(table, models, final_only)]


def all_metric_rows(kind):
    dirs = sorted({d for table in config["tables"] for d in stage_dirs(table)})
    return [f"{d}/{kind}.parquet" for d in dirs]


def previous_checkpoint(wildcards):
    r = int(wildcards.round)
    base = run_dir(wildcards.dataset, wildcards.model, wildcards.seed)
    if r == 1:
        return f"{base}/dense/checkpoint.pt"
    return f"{base}/{wildcards.method}/round{r - 1}/checkpoint.pt"


def table_targets(table):
    return expand("results/tables/{table}.{ext}", table=table, ext=["md", "tex", "csv", "parquet"])


def figure_targets(table):
    return expand(
        "results/figures/{table}/{model}_{kind}.png",
        table=table,
        model=config["tables"][table]["models"],
        kind=["accuracy", "density"],
    )


def all_targets():
    """Every checkpoint is a target too: Snakemake does not remake a deleted intermediate
    file whose consumers are up to date, and a checkpoint must come back when deleted."""
    checkpoints = sorted({f"{d}/checkpoint.pt" for table in config["tables"] for d in stage_dirs(table)})
    targets = ["results/metrics.parquet", "results/layers.parquet", "summary/metrics.json", *checkpoints]
    for table in config["tables"]:
        targets += table_targets(table) + figure_targets(table)
    return targets


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    table="|".join(config["tables"]),
    method="|".join(METHODS),
    model="|".join(sorted({m for t in config["tables"].values() for m in t["models"]})),
    seed=r"\d+",
    round=r"[1-9]\d*",
