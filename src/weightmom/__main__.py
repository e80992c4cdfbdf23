"""`python -m weightmom <step>`: what every job of the workflow runs, one process per step.

Two fixed costs of such a short process are cut here. Python's garbage collector runs over
and over while torch and a step's modules are imported (about 0.3 s; they make no garbage):
it is off until the step's module is loaded, then weightmom.cli freezes what the imports
made and turns it back on. And tearing the interpreter down at the end (freeing every module
torch loaded, 0.3 s or more) frees nothing the system would not: by then every output is
written and closed, so the process leaves at once.
"""

import gc
import os
import sys

gc.disable()

from weightmom.cli import main  # noqa: E402

status = main()
sys.stdout.flush()
sys.stderr.flush()
os._exit(status)
