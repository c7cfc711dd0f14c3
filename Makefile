# hdh-migrate: `make demo` and `make test` do all their set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := .demo

export AZURITE_URL ?= http://127.0.0.1:10000/devstoreaccount1
export S3_URL      ?= http://127.0.0.1:9000

.PHONY: setup demo test lint typecheck unit bench lock clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "hdh-migrate needs Python 3.11 or newer as $(PYTHON)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: setup
	@mkdir -p $(DEMO)
	$(BIN)/migrate plan plans/hdh.yaml -o $(DEMO)/hdh-plan.json

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: lint typecheck unit

bench: setup
	$(BIN)/python bench/plan_scale.py
	$(BIN)/python bench/plan_quality.py

# Re-pin every dependency to what a fresh resolution gives today (then review the diff).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | sort > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(DEMO) .mypy_cache .ruff_cache .pytest_cache .hypothesis
