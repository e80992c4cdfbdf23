"""The steps that make and evaluate checkpoints, as plain functions the CLI and tests call.

One module per step, each importing only what its step runs: the workflow reruns a step
when a file its module imports changes (weightmom.provenance.codeversion), so a module here must not
import another step's module. Each step reads files and writes files (atomically), so
Snakemake can chain them and a user can run any of them by hand. May import every stage
below it; only the CLI imports steps.
"""
