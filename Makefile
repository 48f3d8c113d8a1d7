# slolab — one entry point for humans and CI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# uv installs the same packages several times faster than pip (docs/lab.md, "From clone
# to first page"); pip is the fallback when uv is not on PATH.
UV     ?= $(shell command -v uv 2>/dev/null)

.PHONY: install test check lint bench soak lab history compose clean lock

# Test processes: most tests wait on servers and subprocesses, so more workers
# than cores pays; a file's tests stay together (module fixtures, ordered checks), except
# the independent cases tests/conftest.py SPREAD names (its own xdist scheduler).
PYTEST_WORKERS ?= 4
XDIST := -n $(PYTEST_WORKERS) --dist loadfile

# Two stamps: the lab needs the services and Locust only; tests add the dev tools.
# uv compiles the bytecode as pip does: with PYTHONDONTWRITEBYTECODE set, every
# server start would otherwise compile scikit-learn again (seconds per start).
# Both install within constraints.txt (pinned versions, `make lock`).
$(VENV)/.lab-installed: pyproject.toml constraints.txt
ifneq ($(UV),)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[loadgen]'
else
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[loadgen]'
endif
	@touch $@

$(BIN)/slolab: $(VENV)/.lab-installed
ifneq ($(UV),)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev,loadgen]'
else
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,loadgen]'
endif
	@touch $@

install: $(BIN)/slolab  ## create .venv with everything

# Pins every Python dependency (CI and the Docker image install with -c constraints.txt).
# Run after changing dependencies in pyproject.toml; needs uv (pip install uv).
lock:  ## refresh constraints.txt from pyproject.toml
	uv pip compile pyproject.toml --extra dev --extra loadgen --universal \
	  --python-version 3.11 --custom-compile-command "make lock" -o constraints.txt --quiet

lint: install  ## ruff: lint and format
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install  ## the whole test suite (needs promtool, prometheus, alertmanager on PATH)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q $(XDIST)

check: install  ## the inner loop: lint and every test not marked slow (no servers, no promtool suites)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -q $(XDIST) -m "not slow"

bench: install  ## benchmarks (not part of make test); results go to docs/benchmarks.md
	$(BIN)/python -m bench

soak: install  ## 10 min steady load, memory and errors (not part of make test); docs/reliability.md
	$(BIN)/python -m bench.soak

# SCENARIO (a load shape: steady|ramp|spike|budget-burn|chaos, or a game day of scenarios/,
# docs/scenarios.md), LOAD=0, LAB_DIR, RESET=1, HISTORY=30d and
# the *_PORT variables reach the lab from the command line or the environment (make exports both).
lab: $(VENV)/.lab-installed  ## the whole lab natively until Ctrl-C (docs/lab.md)
	$(BIN)/slolab lab

# For docker compose: blocks of HISTORY (default 30d) in .lab/history-tsdb, then
#   docker compose --profile history run --rm history && docker compose up -d
history: $(VENV)/.lab-installed  ## generated past as TSDB blocks for compose (docs/lab.md)
	$(BIN)/slolab history --out .lab/history-tsdb

# Compose v2 only: the image needs BuildKit; docker/compose-check stops with the reason.
compose:  ## docker compose up -d --build, once Compose v2 is found (docs/stack.md)
	docker/compose-check
	docker compose up -d --build

clean:
	rm -rf .lab .pytest_cache
