# Two commands on a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

.PHONY: install run test soak lint format bench bench-scale ci clean

install: $(VENV)/.installed node_modules/.installed

# Reinstall only when the pinned requirements change.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install
	DEBUG=$${DEBUG:-1} $(MANAGE) migrate --no-input
	DEBUG=$${DEBUG:-1} $(MANAGE) load_demo
	DEBUG=$${DEBUG:-1} $(MANAGE) load_demo_reports
	DEBUG=$${DEBUG:-1} $(MANAGE) create_admin
	DEBUG=$${DEBUG:-1} $(MANAGE) runserver 127.0.0.1:8000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The quick suite; the long fault and load runs (marked slow) are `make soak`. PYTEST_ARGS=... replaces the filter.
PYTEST_ARGS ?= -m "not slow"

test: lint
	DEBUG=$${DEBUG:-1} $(BIN)/pytest $(PYTEST_ARGS)

# The slow tests (tests/reliability: 20 kills of a 1M-row ingest, Redis restarts…) on the services CI starts.
soak: install
	bash .ci/run soak

bench: install
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.imports
	$(BIN)/python -m bench.receipts_load
	$(BIN)/python -m bench.screens
	$(BIN)/python -m bench.ledger
	$(BIN)/python -m bench.exports

# A large customer's scale (issue 20): SCALE_CONTACTS contacts generated set-based into their own PostgreSQL
# database (~13 minutes and 11 GB at 20M), then every admin screen timed; not part of `make test` or CI.
SCALE_CONTACTS ?= 20000000

bench-scale: install
	BENCH_SCALE_CONTACTS=$(SCALE_CONTACTS) $(BIN)/python -m bench.scale

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) node_modules staticfiles .pytest_cache .ruff_cache
