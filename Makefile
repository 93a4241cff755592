# Quick start (fresh machine with python3 and make):
#   make sweep   # set up .venv, then run the default cdc_theta sweep (MFST Table IV, local profile)
#   make test    # set up .venv, then run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.actrec-installed
PYTEST_ARGS ?=

.PHONY: setup sweep test lint clean-cache

setup: $(STAMP)

# torch==2.13.0 first: it resolves to the local CPU wheel; any other spec would pull GBs of CUDA packages.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

sweep: $(STAMP)
	$(BIN)/python sweeps/cdc_theta.py

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=25 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check actrec sweeps tests benchmarks
	$(BIN)/ruff format --check actrec sweeps tests benchmarks
