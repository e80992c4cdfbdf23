# Before the first job of a local run that trains or evaluates: what device the jobs get and
# what the training costs. A GPU here: the GPUs jobs spread over. Training on the CPU: its
# projected time here, and a stop before the first job when that is past `max_cpu_hours`;
# a config that needs a GPU (`device: cuda`) stops on a machine without one
# (weightmom.runtime.preflight). A dry run prints the plan's projected cost instead (GPU-hours from
# the package's stored speeds, CPU hours measured here). Cluster runs skip it: the submit
# host is not where jobs run.
import dataclasses
import glob
import json
import os
import sys
import subprocess
import tempfile

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from dry_run import forces_all, is_dry_run
from weightmom.provenance.record import dense_settings_hash
from weightmom.runtime.plan import PlannedJob, training_plan
from weightmom.training.recipe import Accelerator

# Rules whose jobs train (with the recipe they follow), and those that run on the device.
TRAINING_RULES = {"train_dense": "dense", "prune_round": "finetune"}
DEVICE_RULES = {"train_dense", "prune_round", "evaluate"}


def copied_from_elsewhere(dataset, model, seed):
    """Whether another experiment here finished the dense run this one would train (its
    settings hash, training code, accelerator and device setting the same): the train step
    will copy it, not train it (weightmom.training.reuse, which also checks the data's
    bytes and the device's kind when it runs)."""
    recipe = config["training"]["dense"]
    wanted = dense_settings_hash(dataset, model, int(seed), recipe, snapshot_epochs())
    for path in glob.glob(f"{dense_runs_elsewhere(dataset, model, seed)}/settings.json"):
        if path.startswith(f"{OUT}/") or not os.path.exists(os.path.join(os.path.dirname(path), "checkpoint.pt")):
            continue
        try:
            with open(path) as handle:
                settings = json.load(handle)
        except (OSError, ValueError):
            continue
        if (
            settings.get("config_hash") == wanted
            and settings.get("code", {}).get("code_digest") == step_digest("train")
            and settings.get("accelerator") == dataclasses.asdict(Accelerator.from_dict(config["accelerator"]))
            and settings.get("device", {}).get("asked") == config["device"]
        ):
            return True
    return False


def planned_training(jobs):
    """This run's training jobs (Snakemake's plan: targets, --until and reruns included),
    less the dense runs another experiment already made (copied, not trained)."""
    planned = []
    for job in jobs:
        if job.rule.name not in TRAINING_RULES:
            continue
        if job.rule.name == "train_dense" and copied_from_elsewhere(job.wildcards.dataset, job.wildcards.model, job.wildcards.seed):
            continue
        recipe, w = config["training"][TRAINING_RULES[job.rule.name]], job.wildcards
        stage = "dense" if job.rule.name == "train_dense" else f"{w.method}/round{w.round}"
        planned.append(PlannedJob(w.dataset, w.model, int(w.seed), stage, recipe["epochs"], recipe["batch_size"]))
    return planned


def preflight(jobs, threads, *extra):
    """`python -m weightmom preflight` on the planned training `jobs`, timed with `threads`
    per job: (exit status, stdout, stderr)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as plan:
        json.dump([dataclasses.asdict(job) for job in jobs], plan)
        plan.flush()
        result = subprocess.run(
            [
                sys.executable, "-m", "weightmom", "preflight", "--device", config["device"],
                "--threads", str(threads), "--plan", plan.name,
                "--datasets", as_json(config["datasets"]), "--data-root", f"{OUT}/data",
                "--accelerator", as_json(config["accelerator"]), "--max-cpu-hours", str(config["max_cpu_hours"]),
                "--jobs-per-gpu", str(config["jobs_per_gpu"]),
                *extra,
            ],
            capture_output=True, text=True,
        )
    return result.returncode, result.stdout.strip(), result.stderr.strip()


def announce_device():
    if not workflow.local_exec or workflow.touch:
        return
    jobs = list(workflow.dag.needrun_jobs())
    if not any(job.rule.name in DEVICE_RULES for job in jobs):
        return
    status, message, errors = preflight(planned_training(jobs), min(config["threads"]["train"], workflow.cores))
    if status != 0:
        raise WorkflowError((errors.splitlines() or [f"preflight failed with exit status {status}"])[-1])
    if message.startswith("No GPU"):
        logger.warning(message)
    elif message:
        logger.info(message)


def announce_dry_run_cost():
    """Under -n, the cost of the config's training jobs whose checkpoint is not made yet
    (Snakemake runs no hook in a dry run, so this reads the command line; see dry_run)."""
    if not is_dry_run(sys.argv):
        return
    planned = training_plan(config)
    left = [
        job for job in planned
        if forces_all(sys.argv)
        or not os.path.exists(f"{run_dir(job.dataset, job.model, job.seed)}/{job.stage}/checkpoint.pt")
    ]
    left = [job for job in left if job.stage != "dense" or not copied_from_elsewhere(job.dataset, job.model, job.seed)]
    # A dry run's --cores says nothing of the real run's: jobs get the config's threads.
    status, message, errors = preflight(
        left, config["threads"]["train"], "--dry-run", "--done", str(len(planned) - len(left))
    )
    why = (errors.splitlines() or [f"exit status {status}"])[-1]
    logger.info(message if status == 0 else f"Projected cost: not available ({why})")
