# The two commands of the README:
#   make run   set up, migrate, and serve on http://127.0.0.1:8000 (SQLite by default)
#   make test  set up, then ruff, mypy, the import contracts and the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.qtrack-installed
# Two workers: the suite is mostly waiting on databases, and CI machines have two cores.
PYTEST_ARGS ?= -n 2

.PHONY: run test install lint typecheck contracts pytest clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/qtrack db upgrade
	$(BIN)/qtrack serve

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

# The layering of src/qtrack: the contracts are [tool.importlinter] in pyproject.toml.
contracts: install
	$(BIN)/lint-imports

pytest: install
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck contracts pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
