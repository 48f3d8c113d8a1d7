# slolab — one entry point for humans and CI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# uv installs the same packages several times faster than pip (docs/lab.md, "From clone
# to first page"); pip is the fallback when uv is not on PATH.
UV     ?= $(shell command -v uv 2>/dev/null)

.PHONY: install test lint bench soak lab history clean

# Two stamps: the lab needs the services and Locust only; tests add the dev tools.
$(VENV)/.lab-installed: pyproject.toml
ifneq ($(UV),)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --python $(BIN)/python -e '.[loadgen]'
else
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[loadgen]'
endif
	@touch $@

$(BIN)/slolab: $(VENV)/.lab-installed
ifneq ($(UV),)
	$(UV) pip install --quiet --python $(BIN)/python -e '.[dev,loadgen]'
else
	$(BIN)/pip install --quiet -e '.[dev,loadgen]'
endif
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

soak: install  ## 10 min steady load, memory and errors (not part of make test); docs/reliability.md
	$(BIN)/python -m bench.soak

# SCENARIO (steady|ramp|spike|budget-burn|chaos), LOAD=0, LAB_DIR, RESET=1, HISTORY=30d and
# the *_PORT variables reach the lab from the command line or the environment (make exports both).
lab: $(VENV)/.lab-installed  ## the whole lab natively until Ctrl-C (docs/lab.md)
	$(BIN)/slolab lab

# For docker compose: blocks of HISTORY (default 30d) in .lab/history-tsdb, then
#   docker compose --profile history run --rm history && docker compose up -d
history: $(VENV)/.lab-installed  ## generated past as TSDB blocks for compose (docs/lab.md)
	$(BIN)/slolab history --out .lab/history-tsdb

clean:
	rm -rf .lab .pytest_cache
