# WeightMom reproduction pipeline. The paper grid is config/config.yaml; the embedded demo
# runs with `--configfile config/demo.yaml`, which then replaces it (the two are not merged).
from snakemake.utils import min_version

min_version("9.0")


if not config:

    configfile: "config/config.yaml"


include: "workflow/rules/validation.smk"
include: "workflow/rules/common.smk"
include: "workflow/rules/locks.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
