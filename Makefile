# Two commands on a fresh machine with only Python 3.11+ and make:
#   make run    install everything, then run the platform's main job on its embedded defaults
#   make test   install everything, then lint, type-check and run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run airflow airflow-celery test lint typecheck pytest bench schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# uv resolves Airflow's dependency tree in seconds where pip takes minutes; pip stays the fallback.
	$(BIN)/python -m pip install --quiet uv && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]' || \
	  $(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/lgsp run

# The mocks and a real Airflow (api-server, scheduler, dag-processor, triggerer) on loopback until Ctrl-C.
airflow: $(STAMP)
	$(BIN)/lgsp airflow

# The same on CeleryExecutor: Redis (Debian's redis-server), PostgreSQL (initdb/pg_ctl) and WORKERS Celery workers.
WORKERS ?= 2
airflow-celery: $(STAMP)
	$(BIN)/lgsp airflow --executor celery --workers $(WORKERS)

test: lint typecheck pytest

# lint-imports: the layers are a contract (pyproject.toml [tool.importlinter], DESIGN.md §2).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	GX_ANALYTICS_ENABLED=false $(BIN)/pytest

# The declaration format's JSON Schema, regenerated from lgsp.declaration (a test holds the file to the models).
schema: $(STAMP)
	$(BIN)/lgsp systems schema > schemas/declaration.schema.json

bench: $(STAMP)
	$(BIN)/python benchmarks/population_sync.py

clean:
	rm -rf $(VENV) .lgsp .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
