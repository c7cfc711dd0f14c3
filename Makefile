# hdh-migrate: `make demo` and `make test` do all their set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# pytest-xdist processes: most tests wait on servers and subprocesses, not on a core
TEST_WORKERS ?= 2
STAMP  := $(VENV)/.installed-stamp
DEMO   := .demo

NODE_STAMP := tools/emulators/node_modules/.installed-stamp
BROWSER_STAMP := $(VENV)/.chromium-stamp
POSTGRES_STAMP := $(VENV)/.postgres-stamp

.PHONY: setup emulators browser postgres rclone demo test lint typecheck unit bench lock clean

setup: $(STAMP) $(NODE_STAMP)

emulators: $(NODE_STAMP)

# Azurite, pinned by tools/emulators/package-lock.json.
$(NODE_STAMP): tools/emulators/package.json tools/emulators/package-lock.json
	cd tools/emulators && npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "hdh-migrate needs Python 3.11 or newer as $(PYTHON)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# Start the emulators, seed a synthetic Health Data Hub, plan, apply, show the status, stop.
# Debian's Chromium for the dashboard's browser test (Playwright drives it; never downloaded).
browser: $(BROWSER_STAMP)

$(BROWSER_STAMP): $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium package"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@touch $@

# Debian's PostgreSQL server for the ledger's PostgreSQL tests (started by the tests).
postgres: $(POSTGRES_STAMP)

$(POSTGRES_STAMP): $(STAMP)
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql package"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	@touch $@

demo: setup postgres
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	@$(BIN)/python -m tools.emulators start --state $(DEMO)/servers.json
	@$(BIN)/python -m tools.postgres start --state $(DEMO)/databases.json || { \
	  $(BIN)/python -m tools.emulators stop --state $(DEMO)/servers.json; exit 1; }
	@set -e; trap '$(BIN)/python -m tools.emulators stop --state $(DEMO)/servers.json; \
	  $(BIN)/python -m tools.postgres stop --state $(DEMO)/databases.json' EXIT; \
	  eval "$$($(BIN)/python -m tools.emulators env --state $(DEMO)/servers.json)"; \
	  eval "$$($(BIN)/python -m tools.postgres env --state $(DEMO)/databases.json)"; \
	  export MIGRATE_STATE_URL=sqlite:///$(DEMO)/state.db; \
	  $(BIN)/python -m tools.seed --inventory plans/hdh.yaml --azurite-url "$$AZURITE_URL"; \
	  $(BIN)/migrate plan plans/hdh.yaml -o $(DEMO)/hdh-plan.json; \
	  $(BIN)/migrate apply $(DEMO)/hdh-plan.json --yes; \
	  $(BIN)/migrate status; \
	  $(BIN)/migrate report --html $(DEMO)/report.html; \
	  echo "HTML report: $(DEMO)/report.html (or: migrate dashboard --state sqlite:///$(DEMO)/state.db)"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/bandit -q -r migrate adapters state

typecheck: setup
	$(BIN)/mypy

unit: setup browser postgres
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

test: lint typecheck unit

# Every benchmark, on demand (minutes): results in bench/results/ and docs/benchmarks.md.
bench: setup rclone postgres
	$(BIN)/python -m compileall -q migrate adapters state  # byte-code, as an installed package has
	$(BIN)/python bench/plan_scale.py
	$(BIN)/python bench/plan_quality.py
	$(BIN)/python bench/ledger_scale.py
	$(BIN)/python bench/copy_bench.py
	$(BIN)/python bench/dask_bench.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/db_bench.py

rclone:
	@command -v rclone >/dev/null 2>&1 || { \
	  echo "installing Debian's rclone package"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rclone >/dev/null; }

# Re-pin every dependency to what a fresh resolution gives today (then review the diff).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | sort > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(DEMO) .mypy_cache .ruff_cache .pytest_cache .hypothesis
