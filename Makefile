# The two commands of README.md, each doing its own set-up: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export EXPORT_DATA_DIR ?= $(CURDIR)/var
# One instance for every entry point of the embedded default: the command line, typed in a shell without
# make's variables, falls back to this same folder ($EXPORT_DATA_DIR/dagster_home), so `make demo`,
# `export-pipelines link`/`serve` and `make dev` share one run history. A DAGSTER_HOME of your own wins.
export DAGSTER_HOME ?= $(EXPORT_DATA_DIR)/dagster_home

.PHONY: demo test test-fast dev lint bench clean lock screenshots

# Every target installs exactly requirements.lock: the whole resolved environment (runtime and dev) with
# hashes, made by uv's `uv pip compile` (make lock). uv is pinned here and bootstrapped with pip; then the
# project itself is installed editable without its dependencies, which the lock already holds.
# --compile-bytecode: uv, unlike pip, writes no .pyc by default, and with PYTHONDONTWRITEBYTECODE=1 (usual in
# containers) no process ever writes them: every command, code server and run process would compile dagster
# and its libraries from source at each start (~2,400 modules: seconds of CPU each time).
UV_VERSION := 0.13.9
UV := $(BIN)/uv
LOCK := requirements.lock

$(BIN)/.installed: $(LOCK) pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV) pip install --quiet --python $(BIN)/python --compile-bytecode --require-hashes -r $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

## lock: resolve pyproject.toml's ranges (runtime and dev) afresh into requirements.lock; then run make test and
## commit the lock with the result. `make lock UPGRADE=sentry-sdk` moves one package, `UPGRADE=--all` every one.
UPGRADE ?=
lock:
	test -x $(UV) || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/python -m pip install --quiet uv==$(UV_VERSION); }
	$(UV) pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		--quiet $(if $(filter --all,$(UPGRADE)),--upgrade,$(addprefix --upgrade-package ,$(UPGRADE))) \
		-o $(LOCK)

# The instance holds every run's history, request and download link in SQLite files: the folder is 0700,
# the files 0600 (umask 077 for `dagster dev`; the command line sets its own).
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	chmod 700 $(DAGSTER_HOME)
	install -m 600 dagster.yaml $@

$(EXPORT_DATA_DIR)/demo.sqlite: | $(BIN)/.installed
	$(BIN)/export-pipelines seed-demo --rows 100000

## demo: seed 100,000 demo orders and export them end to end (no server needed)
demo: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml $(EXPORT_DATA_DIR)/demo.sqlite
	$(BIN)/export-pipelines export --user admin --dataset orders --format csv --recipient ops@example.com \
		--out $(EXPORT_DATA_DIR)/demo-orders.csv
	$(BIN)/export-pipelines audit --limit 5

## test: the whole test suite (services it cannot find are skipped, or fail with EXPORT_REQUIRE_SERVICES=1),
## with coverage of export_pipelines/: the per-module table, and a failure under the floor
# In TEST_PROCESSES processes (pytest-xdist). Most of the suite's time is waiting on servers it started
# (dagster dev, Celery workers, a browser), so more processes than cores pay: on 2 cores the suite used
# about 18 minutes of CPU, and 6 processes finished it in 12 minutes where 4 took 16 to 17. --dist loadfile keeps each
# module in one process: a module's servers start once, and tests of one module never race each other.
# (xdist's loadgroup would be finer, but xdist 3.8 cannot rename pytest 9.2's node ids, so it groups nothing.)
# The 25 slowest tests are listed at the end; each test fails after 300 s (pyproject.toml) unless marked.
COVERAGE_FLOOR ?= 89
TEST_PROCESSES ?= 6
PYTEST_PARALLEL = $(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile --durations=25
test: $(BIN)/.installed
	$(PYTEST_PARALLEL) --cov=export_pipelines --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

## test-fast: the suite without its end-to-end tests (marked e2e: dagster dev, Celery workers, a browser)
test-fast: $(BIN)/.installed
	$(PYTEST_PARALLEL) -m "not e2e"

## screenshots: the pages' browser tests (Chromium), saving what they show as docs/screenshots/*.png (the README's)
screenshots: $(BIN)/.installed
	EXPORT_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/pytest -p no:xdist -m e2e export_pipelines_tests/desk

## dev: the Dagster UI with the export job (http://127.0.0.1:3000)
# Started in $(DAGSTER_HOME), beside the dagster.yaml in use: from the project folder Dagster would warn that
# ./dagster.yaml (the template copied there) is not it. `dagster dev` also calls itself superseded by `dg dev`,
# of the dg command line, which this project does not use; that one notice is hidden, by its text.
DEV_COMMAND = umask 077 && cd $(abspath $(DAGSTER_HOME)) && DAGSTER_HOME=$(abspath $(DAGSTER_HOME)) \
	EXPORT_DATA_DIR=$(abspath $(EXPORT_DATA_DIR)) PYTHONWARNINGS='ignore:Function `dev_command` is superseded' \
	$(abspath $(BIN))/dagster dev -w $(CURDIR)/workspace.yaml
dev: $(BIN)/.installed $(DAGSTER_HOME)/dagster.yaml $(EXPORT_DATA_DIR)/demo.sqlite
	$(DEV_COMMAND)

lint: $(BIN)/.installed
	$(BIN)/ruff check .

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/export_bench.py

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) var *.egg-info
