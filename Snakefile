# WeightMom reproduction pipeline. The paper grid is config/config.yaml; the embedded demo
# runs with `--configfile config/demo.yaml`, which then replaces it (the two are not merged).
# `--config KEY=VALUE` alone changes single keys of config/config.yaml.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")
# The workflow's own plain-Python modules (no Snakemake in them, tested in-process):
# config_check (the config check), stale_lock (locks left by a killed run) and dry_run.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow/lib"))


if not workflow.overwrite_configfiles:  # --config values alone still apply on top of it

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/validation.smk"
include: "workflow/rules/common.smk"
include: "workflow/rules/locks.smk"
include: "workflow/rules/device.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/export.smk"


announce_dry_run_cost()


onstart:
    stale_lock.record_lock_holder()
    announce_device()


onsuccess:
    logger.info(made_summary())


rule all:
    input:
        all_targets(),
    default_target: True
