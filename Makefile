# The few commands people run. `make run` and `make test` are the README's two set-up commands.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := app/static/vendor

.PHONY: run test setup vendor lint typecheck bench clean image

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Refresh htmx and its ws extension in app/static/vendor/ and axe-core (for the browser tests
## only) in tests/browser/vendor/ (committed, so set-up needs no Node): fetched from the npm
## registry at the versions package-lock.json pins, integrity-checked against it, recorded with
## their SHA-256 in each folder's VENDOR.json.
vendor:
	$(PY) tools/vendor.py

setup: $(STAMP)
	@$(PY) tools/vendor.py --check

## Run the demo clinic on embedded SQLite (migrates, seeds, serves, prints the logins).
run: setup
	$(BIN)/holdspace demo

## Build the production image with podman and smoke-test it (SQLite, then PostgreSQL), as CI does.
image:
	bash .ci/container.sh

## Run the whole test suite (browser tests need Debian's chromium: `apt-get install chromium`).
test: setup
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || echo "chromium is not installed: browser tests will be skipped (apt-get install chromium)"
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null; } || echo "java is not installed: the Nu HTML check will be skipped (apt-get install default-jre-headless)"
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

typecheck: setup
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/run.py
	$(BIN)/python bench/first_load.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache build dist
