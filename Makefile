# tasktrail: `make run` starts the whole stack locally, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell $(PYTHON) -c "import sys; print(sys.executable)")

.PHONY: help env run test test-unit test-integration test-e2e lint typecheck bench deploy-check clean screenshots

help:
	@echo "make run     start NATS, MongoDB-wire, Redis, the five services, a demo worker and traffic"
	@echo "make test    install from the lock file, run every test, print the coverage"
	@echo "make lint    ruff, and the layering contracts (import-linter)"
	@echo "make bench   run the benchmarks under bench/"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# The environment comes only from the committed lock file.
env: $(UV)
	$(UV) sync --frozen --all-packages --all-groups

run: env
	$(UV) run --frozen --no-sync tasktrail-dev-stack

# Only the whole suite measures coverage and holds it to the floor ([tool.coverage] in
# pyproject.toml); the partial targets below measure nothing.
test: env
	$(UV) run --frozen --no-sync pytest -p no:cacheprovider --cov --cov-report=term $(PYTEST_ARGS)

test-unit: env
	$(UV) run --frozen --no-sync pytest tests/unit $(PYTEST_ARGS)

test-integration: env
	$(UV) run --frozen --no-sync pytest tests/integration $(PYTEST_ARGS)

test-e2e: env
	$(UV) run --frozen --no-sync pytest tests/e2e $(PYTEST_ARGS)

lint: env
	$(UV) run --frozen --no-sync ruff check .
	$(UV) run --frozen --no-sync ruff format --check .
	$(UV) run --frozen --no-sync lint-imports --no-cache

typecheck: env
	$(UV) run --frozen --no-sync mypy shared/src services/*/src services/control/scripts \
		devstack/src clients/*/src bench deploy tests

# The README's pictures of the web UI, taken by the browser the tests drive (Chromium).
screenshots: env
	TASKTRAIL_SCREENSHOTS=docs/screenshots $(UV) run --frozen --no-sync pytest -p no:cacheprovider \
		tests/e2e/test_ui_browser.py -k readme_screenshots -q

bench: env
	$(UV) run --frozen --no-sync python -m bench

clean:
	rm -rf .venv $(TOOLS) .data

deploy-check: env
	$(UV) run --frozen --no-sync python -m deploy.check
