# The config is checked here, before the DAG is built (workflow/lib/config_check.py): a bad
# key stops the run before any job starts, with one line naming the key and its value.
import importlib.util
import os

_spec = importlib.util.spec_from_file_location("config_check", os.path.join(workflow.basedir, "workflow/lib/config_check.py"))
config_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(config_check)

config_check.check_or_exit(config, os.path.join(workflow.basedir, "workflow/schemas/config.schema.yaml"))
