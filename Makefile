# slolab — one entry point for humans and CI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install test lint bench lab clean

$(BIN)/slolab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,loadgen]'
	@touch $@

install: $(BIN)/slolab  ## create .venv with everything

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

test: install  ## the whole test suite (needs promtool, prometheus, alertmanager on PATH)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

bench: install  ## benchmarks (not part of make test); results go to docs/benchmarks.md
	$(BIN)/python -m bench

clean:
	rm -rf .lab .pytest_cache
