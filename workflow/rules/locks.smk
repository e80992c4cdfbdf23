# Stale locks left by a killed Snakemake run: see workflow/lib/stale_lock.py.
import stale_lock

if workflow.is_main_process:
    stale_lock.clear_stale_lock()

