# Everything installs into .venv from the pinned lock (requirements/lock.txt), the same lock the images use.
PYTHON ?= python3
VENV ?= .venv
UV_VERSION ?= 0.13.9
BIN := $(VENV)/bin

.PHONY: install demo test lint typecheck unit integration bench lock

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(BIN)/uv
	$(BIN)/uv pip sync --quiet -p $(BIN)/python requirements/lock.txt
	$(BIN)/uv pip install --quiet -p $(BIN)/python --no-deps -e .

# The main job: a full training on the bundled US macroeconomic data, on a local Dask cluster.
demo: install
	$(BIN)/retrodiction train examples/training-macrodata.yaml --workers 2 \
		--output out/macrodata-summary.json --report out/macrodata-report.html

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

# The whole suite: lint, types, then unit, integration and e2e tests. pytest exits non-zero when a test
# fails and also when it collects nothing (exit code 5), so an empty run can never pass.
test: install lint typecheck
	$(BIN)/pytest

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

bench: install
	$(BIN)/python benchmarks/engine_vs_statsforecast.py
	$(BIN)/python benchmarks/local_cluster.py

lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra bench --python-version 3.11 -o requirements/lock.txt
