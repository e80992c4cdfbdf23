# The config is checked before the DAG is built (workflow/lib/config_check.py): a bad key
# stops the run before any job starts, with one line naming the key and its value.
from config_check import check_or_exit

check_or_exit(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
