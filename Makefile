# Every target creates the environment it needs: a fresh machine needs only python3, make and git.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV_HOME := .uv
UV := $(UV_HOME)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
SYNCED := $(VENV)/.synced
export UV_PYTHON_DOWNLOADS := never
# Compile every installed module to bytecode once at install time: with PYTHONDONTWRITEBYTECODE set
# (as on some machines) Python would otherwise compile Airflow from source in every process.
export UV_COMPILE_BYTECODE := 1

.PHONY: env browser lint fix test test-fast demo up down backfill bench clean

$(UV):
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(SYNCED): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

## env: the project virtualenv (.venv), exactly as uv.lock pins it
env: $(SYNCED)

## browser: Debian's chromium, for the UI tests (installed with apt-get when missing and we are root)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "The UI tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

## lint: ruff, with Airflow's AIR rules and bandit's S rules
lint: env
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## fix: let ruff fix what it can
fix: env
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Two workers (a 2-core machine); the tests that share the embedded stack, an Airflow API server or the
# alert tests' metadata DB stay together on one worker (tests/conftest.py).
XDIST := -n 2 --dist loadgroup

## test: lint, then the whole test suite (starts and stops its own local servers)
test: lint browser
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

## test-fast: lint, then the inner loop: no embedded stack, no Airflow api-server, no whole-DAG runs
test-fast: lint
	$(PY) -m pytest $(XDIST) -m "not e2e and not api_server and not dag_runs" $(PYTEST_ARGS)

## demo: start the embedded stack, run every DAG once, check what its runs wrote (DEMO_EXIT=1 to stop after)
demo: env
	$(PY) -m devstack.demo

## up / down: the embedded stack in the background (endpoints in .stack/endpoints.env); every up starts empty
up: env
	$(PY) -m devstack.stack up

down: env
	$(PY) -m devstack.stack down

## backfill: DAG=<dag_id> FROM=<date> TO=<date> [REPROCESS=completed] on the running embedded stack
backfill: env
	$(PY) -m devstack.backfill --dag-id "$(DAG)" --from-date "$(FROM)" --to-date "$(TO)" \
		--reprocess-behavior "$(or $(REPROCESS),completed)"

## bench: every benchmark under bench/ (results in bench/results/)
bench: env
	$(PY) -m bench

clean: down
	rm -rf .stack .pytest_cache .ruff_cache
