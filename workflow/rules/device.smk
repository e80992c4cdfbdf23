# Before the first job of a local run that trains or evaluates: what device the jobs get.
# `device: auto` without a GPU says so, with the projected time of this run's training
# here; a config that needs a GPU (`device: cuda`) stops on a machine without one
# (weightmom.preflight). Cluster runs skip it: the submit host is not where jobs run.
import dataclasses
import json
import os
import sys
import subprocess
import tempfile

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from weightmom.plan import PlannedJob

# Rules whose jobs train (with the recipe they follow), and those that run on the device.
TRAINING_RULES = {"train_dense": "dense", "prune_round": "finetune"}
DEVICE_RULES = {"train_dense", "prune_round", "evaluate"}


def planned_training(jobs):
    """This run's training jobs (Snakemake's plan: targets, --until and reruns included)."""
    planned = []
    for job in jobs:
        if job.rule.name not in TRAINING_RULES:
            continue
        recipe, w = config["training"][TRAINING_RULES[job.rule.name]], job.wildcards
        stage = "dense" if job.rule.name == "train_dense" else f"{w.method}/round{w.round}"
        planned.append(PlannedJob(w.dataset, w.model, int(w.seed), stage, recipe["epochs"], recipe["batch_size"]))
    return planned


def announce_device():
    if config["device"] == "cpu" or not workflow.local_exec or workflow.touch:
        return
    jobs = list(workflow.dag.needrun_jobs())
    if not any(job.rule.name in DEVICE_RULES for job in jobs):
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json") as plan:
        json.dump([dataclasses.asdict(job) for job in planned_training(jobs)], plan)
        plan.flush()
        result = subprocess.run(
            [
                sys.executable, "-m", "weightmom", "preflight", "--device", config["device"],
                "--threads", str(min(config["threads"]["train"], workflow.cores)), "--plan", plan.name,
                "--datasets", as_json(config["datasets"]), "--data-root", f"{OUT}/data",
                "--accelerator", as_json(config["accelerator"]),
            ],
            capture_output=True, text=True,
        )
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"preflight failed with exit status {result.returncode}"]
        raise WorkflowError(lines[-1])
    message = result.stdout.strip()
    if message.startswith("No GPU"):
        logger.warning(message)
    elif message:
        logger.info(message)
