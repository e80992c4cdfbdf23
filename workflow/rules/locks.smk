# Stale locks left by a killed Snakemake run: see workflow/lib/stale_lock.py.
import importlib.util
import os

_spec = importlib.util.spec_from_file_location("stale_lock", os.path.join(workflow.basedir, "workflow/lib/stale_lock.py"))
stale_lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(stale_lock)

if workflow.is_main_process:
    stale_lock.clear_stale_lock()

