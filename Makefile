# The quick start: `make serve`, `make check` while working, `make test` before pushing (CI).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve check test lint typecheck pytest pytest-fast pytest-postgres install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

## Serve the API (embedded: SQLite, in-memory layer, worker in-process) with demo data.
serve: install
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py migrate --no-input
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py seed_demo --if-empty
	DEBUG=$${DEBUG:-1} $(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

## While working: lint, types and the fast tests (no servers, browser, PostgreSQL or slow cases).
check: install lint typecheck pytest-fast

## Run every test: lint, types, the database suites on PostgreSQL (when configured), then
## everything; coverage counts both passes (PostgreSQL-only code runs in the first).
test: COV_APPEND := --cov-append
test: install lint typecheck pytest-postgres pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy .

pytest:
	$(BIN)/python -m pytest --cov --cov-report=term $(COV_APPEND) $(PYTEST_ARGS)

FAST := not e2e and not browser and not distributed and not slow

# The engine's property tests try 50 examples each here, 200 in `make test`.
pytest-fast:
	CALC_EXAMPLES=$${CALC_EXAMPLES:-50} $(BIN)/python -m pytest --no-cov -q -m "$(FAST)" $(PYTEST_ARGS)

# The race tests hold 30 connections at once: the pool must be at least that large.
pytest-postgres:
	@if [ -n "$$CROWDVOTE_TEST_POSTGRES_URL" ]; then \
		DATABASE_URL="$$CROWDVOTE_TEST_POSTGRES_URL" DATABASE_POOL_MAX=$${DATABASE_POOL_MAX:-64} $(BIN)/python -m pytest -q \
			--cov --cov-report= --cov-fail-under=0 \
			tests/accounts tests/democracy tests/schema tests/calc tests/devtools/test_seeding.py tests/test_rows.py tests/test_prepared.py tests/test_postgresql_backend.py \
			--ignore=tests/calc/engine; \
	else \
		rm -f .coverage; \
		echo "PostgreSQL pass skipped: set CROWDVOTE_TEST_POSTGRES_URL to run it."; \
	fi

clean:
	rm -rf $(VENV) var logs .coverage htmlcov .mypy_cache .ruff_cache .pytest_cache
