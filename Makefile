# The two set-up commands: `make demo` (the whole pipeline on the embedded digits data)
# and `make test-all` (every test, what CI runs; its time is in the README). Both create or
# refresh the virtual environment first. While editing, `make test` runs the fast tier alone
# (unit tests and in-process checks, under a minute) and `make lint` the linters.
SHELL := bash
VENV ?= .venv
PYTHON ?= python3
CORES ?= all
BIN := $(VENV)/bin
STAMP := $(VENV)/.weightmom-installed

.PHONY: venv demo test test-all readme lint repro pull clean gpu-check

venv: $(STAMP)

# torch and torchvision are pinned: 2.14.1 / 0.29.1 are the builds the project is tested with.
# pip is quiet twice over: errors only (a machine's index settings can add hundreds of warnings).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet --quiet -e '.[dev]'
	touch $@

# The demo's output is briefed (scripts/brief.py): progress, messages and errors in full,
# without every finished job's block (all of it is in .snakemake/log/ and logs/demo/).
demo: venv
	set -o pipefail; $(BIN)/snakemake --cores $(CORES) --configfile config/demo.yaml 2>&1 | $(BIN)/python scripts/brief.py

# Tiers are pytest markers (pyproject.toml): `slow` starts Snakemake, DVC or step
# processes; `gpu` needs a GPU (skipped without one). Unmarked tests are the fast tier.
test: venv
	$(BIN)/python -m pytest -m "not slow and not gpu"

test-all: venv
	$(BIN)/python -m pytest

# DVC, one experiment at a time (EXPERIMENT is a stage of dvc.yaml: demo, paper, ...).
# repro: run (or bring up to date) the experiment's Snakemake workflow and record it.
# pull: fetch what others computed, then mark it up to date for Snakemake (scripts/pull.py).
EXPERIMENT ?= demo
repro: venv
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/dvc repro experiment@$(EXPERIMENT)

pull: venv
	$(BIN)/python scripts/pull.py $(EXPERIMENT)

# The README's and docs' result tables are the pipeline's: run the demo, then copy its
# tables (and those of any other experiment computed here) into README.md and docs/*.md
# (scripts/readme_tables.py), the numbers their prose quotes (job counts, projections,
# measured times) into them (scripts/readme_numbers.py), and the evidence WeightMom's
# default is chosen on into docs/method.md.
readme: demo
	$(BIN)/python scripts/readme_tables.py
	$(BIN)/python scripts/readme_numbers.py README.md docs/*.md
	$(BIN)/python scripts/choose_default.py --out results/default-choice.md
	$(BIN)/python scripts/readme_tables.py --readme docs/method.md

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint
	$(BIN)/snakemake --lint --configfile config/demo.yaml

clean:
	rm -rf results logs .snakemake

# On a GPU machine (at most about 10 minutes on one current GPU): the GPU tests, then the
# GPU benchmark (benchmarks/gpu_check.py). Without a GPU both say so and it exits 0.
gpu-check: venv
	$(BIN)/python -m pytest -m gpu -rs tests/test_gpu.py
	$(BIN)/python benchmarks/gpu_check.py
