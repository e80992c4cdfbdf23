# Before the first job of a local run: what device the jobs get. `device: auto` without a
# GPU says so, with the projected training time here; a config that needs a GPU
# (`device: cuda`) stops on a machine without one (weightmom.preflight). Cluster runs skip
# it: the submit host is not where jobs run.
import dataclasses
import subprocess
import tempfile

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from weightmom.plan import training_plan


def pending_training():
    """The training jobs whose checkpoint is not there yet."""
    return [
        job
        for job in training_plan(config)
        if not os.path.exists(f"{run_dir(job.dataset, job.model, job.seed)}/{job.stage}/checkpoint.pt")
    ]


def announce_device():
    if config["device"] == "cpu" or not workflow.local_exec or workflow.touch:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json") as plan:
        json.dump([dataclasses.asdict(job) for job in pending_training()], plan)
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
    if result.stdout.strip():
        logger.warning(result.stdout.strip())
