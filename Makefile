# eventlake: the two commands are `make up` and `make test`; the rest is listed by `make help`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
UV_VERSION := 0.13.8
PYTEST_ARGS ?=
export SQL

# This machine sets PYTHONDONTWRITEBYTECODE=1: every Python process (and every Spark Python worker)
# would recompile pandas, pyarrow and pyspark on import, ~3 s each. Byte-compile once, use always.
unexport PYTHONDONTWRITEBYTECODE

.DEFAULT_GOAL := help
.PHONY: help venv up down status query logs test test-e2e test-unit test-integration test-faults lint format docs bench lock clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@echo "eventlake: creating the Python environment in $(VENV) (first use; a few minutes)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip --version > /dev/null 2>&1 || $(PY) -m ensurepip > /dev/null
	@$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	@VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv pip sync -q requirements.lock
	@VIRTUAL_ENV=$(VENV) $(VENV)/bin/uv pip install -q --no-deps -e .
	@$(PY) -m compileall -q -j 0 $(VENV)/lib/python3.11/site-packages > /dev/null || true
	@# eventlake's own bytecode too: each Spark worker and Airflow task process would compile it from source
	@# where PYTHONDONTWRITEBYTECODE is set (it is on the CI machines); a stale .pyc is just recompiled.
	@$(PY) -m compileall -q -j 0 eventlake > /dev/null || true
	@touch $@

venv: $(STAMP) ## create/update the Python environment from the lock file

up: $(STAMP) ## start the embedded stack and wait until every service is healthy
	@$(PY) -m eventlake.stack up

down: $(STAMP) ## stop every process the stack started
	@$(PY) -m eventlake.stack down

status: $(STAMP) ## state and health of every service
	@$(PY) -m eventlake.stack status

query: $(STAMP) ## ad-hoc SQL over the lake tables: make query SQL="select ..." (no SQL: a console)
	@$(PY) -m eventlake.analytics.query $(QUERY_ARGS) $${SQL:+"$$SQL"}

logs: $(STAMP) ## last lines of every service's log (make logs SERVICE=broker for one)
	@$(PY) -m eventlake.stack logs $(SERVICE)

lint: $(STAMP) ## ruff, ruff format --check, mypy (shared package), sqlfluff (sql/)
	@echo "== ruff"; $(VENV)/bin/ruff check .
	@echo "== ruff format"; $(VENV)/bin/ruff format --check .
	@echo "== mypy eventlake"; $(VENV)/bin/mypy
	@echo "== sqlfluff sql/"; if compgen -G "sql/*.sql" > /dev/null; then $(VENV)/bin/sqlfluff lint sql --dialect trino; fi

format: $(STAMP) ## apply ruff fixes and formatting
	@$(VENV)/bin/ruff check --fix .; $(VENV)/bin/ruff format .

test: $(STAMP) lint ## lint, unit, integration and end-to-end tests (the real embedded stack)
	@$(VENV)/bin/pytest -m "not faults" $(PYTEST_ARGS)

test-e2e: $(STAMP) ## the end-to-end test: 200,000 events from the API to the reports
	@$(VENV)/bin/pytest -m e2e $(PYTEST_ARGS)

test-unit: $(STAMP) ## unit tests only (no services)
	@$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

test-integration: $(STAMP) ## tests against the real embedded stack
	@$(VENV)/bin/pytest tests/integration -m "not faults" $(PYTEST_ARGS)

test-faults: $(STAMP) ## fault drills: kill drivers, restart the broker and scheduler under load
	@$(VENV)/bin/pytest -m faults $(PYTEST_ARGS)

docs: $(STAMP) ## regenerate what is derived from the settings: .env.example and the settings tables (README, docs/)
	@$(PY) -m eventlake.settings --write-env-example
	@$(PY) -m eventlake.distributed settings-table --write

bench: $(STAMP) ## run every benchmark with its baseline and write BENCHMARKS.md
	@$(PY) -m benchmarks.run_all

lock: ## re-resolve requirements.lock from pyproject.toml
	@$(PYTHON) -m pip install -q uv==$(UV_VERSION) && uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean: down ## stop the stack and delete its state (var/)
	@rm -rf var
