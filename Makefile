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

# pip's own output (a line per package) shows progress: the first install takes a minute.
$(STAMP): pyproject.toml constraints.txt
	@echo "==> creating $(VENV)/ with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> installing qtrack and its pinned dependencies into $(VENV)/ (about a minute the first time)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -c constraints.txt -e '.[dev]'
	touch $(STAMP)
	@echo "==> installed"

install: $(STAMP)

run: install
	@echo "==> migrating the database (qtrack db upgrade)"
	$(BIN)/qtrack db upgrade
	@echo "==> serving (qtrack serve); stop with Ctrl-C"
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
