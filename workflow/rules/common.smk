# Helpers shared by the rules: paths of the file contract and the table -> runs mapping.
import json
import os
import sys

from snakemake.exceptions import WorkflowError

# Jobs run `python -m weightmom`. The interpreter running Snakemake has the package
# installed (see the Makefile), so its directory goes first on PATH: the jobs then find it
# whether or not the user activated the virtual environment.
envvars:
    "PATH",


SEARCH_PATH = os.environ["PATH"]
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), SEARCH_PATH])
ROUNDS = config["pruning"]["rounds"]
METHODS = list(config["methods"])


def check_references():
    """Cross-references a JSON schema cannot express."""
    for name, table in config["tables"].items():
        if table["dataset"] not in config["datasets"]:
            raise WorkflowError(
                f"config key tables.{name}.dataset: {table['dataset']!r} is not one of "
                f"the datasets {sorted(config['datasets'])}"
            )


check_references()


def as_json(value):
    return json.dumps(value, sort_keys=True)


def raw_inputs(wildcards):
    """The archive a downloaded source needs in data/raw/<dataset>/ (nothing for the others)."""
    spec = config["datasets"][wildcards.dataset]
    if "url" not in spec:
        return []
    return f"data/raw/{wildcards.dataset}/{os.path.basename(spec['url'])}"


def run_dir(dataset, model, seed):
    return f"results/{dataset}/{model}/seed{seed}"


def stage_dirs(table):
    """Every checkpoint directory a table needs: the dense run and each method's rounds."""
    spec = config["tables"][table]
    dirs = []
    for model in spec["models"]:
        for seed in config["seeds"]:
            base = run_dir(spec["dataset"], model, seed)
            dirs.append(f"{base}/dense")
            dirs.extend(f"{base}/{method}/round{r}" for method in METHODS for r in range(1, ROUNDS + 1))
    return dirs


def table_metric_rows(table, model=None):
    models = config["tables"][table]["models"] if model is None else [model]
    return [
        f"{d}/metrics.parquet"
        for d in stage_dirs(table)
        if d.split("/")[2] in models
    ]


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
    return expand("results/tables/{table}.{ext}", table=table, ext=["md", "csv", "parquet"])


def figure_targets(table):
    return expand(
        "results/figures/{table}/{model}.png", table=table, model=config["tables"][table]["models"]
    )


def all_targets():
    """Every checkpoint is a target too: Snakemake does not remake a deleted intermediate
    file whose consumers are up to date, and a checkpoint must come back when deleted."""
    checkpoints = sorted({f"{d}/checkpoint.pt" for table in config["tables"] for d in stage_dirs(table)})
    targets = ["results/metrics.parquet", "results/layers.parquet", *checkpoints]
    for table in config["tables"]:
        targets += table_targets(table) + figure_targets(table)
    return targets


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    table="|".join(config["tables"]),
    method="|".join(METHODS),
    seed=r"\d+",
    round=r"[1-9]\d*",
