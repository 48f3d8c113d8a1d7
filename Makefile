# slolab — one entry point for humans and CI.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install test check lint bench soak lab clean lock

# Test processes: most tests wait on servers and subprocesses, so more workers
# than cores pays; a file's tests stay together (module fixtures, ordered checks).
PYTEST_WORKERS ?= 4
XDIST := -n $(PYTEST_WORKERS) --dist loadfile

$(BIN)/slolab: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,loadgen]'
	@touch $@

install: $(BIN)/slolab  ## create .venv with everything

# Pins every Python dependency (CI and the Docker image install with -c constraints.txt).
# Run after changing dependencies in pyproject.toml; needs uv (pip install uv).
lock:  ## refresh constraints.txt from pyproject.toml
	uv pip compile pyproject.toml --extra dev --extra loadgen --universal \
	  --python-version 3.11 --custom-compile-command "make lock" -o constraints.txt --quiet

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check . || true

test: install  ## the whole test suite (needs promtool, prometheus, alertmanager on PATH)
	$(BIN)/ruff check .
	$(BIN)/pytest -q $(XDIST)

check: install  ## the inner loop: lint and every test not marked slow (no servers, no promtool suites)
	$(BIN)/ruff check .
	$(BIN)/pytest -q $(XDIST) -m "not slow"

bench: install  ## benchmarks (not part of make test); results go to docs/benchmarks.md
	$(BIN)/python -m bench

soak: install  ## 10 min steady load, memory and errors (not part of make test); docs/reliability.md
	$(BIN)/python -m bench.soak

# SCENARIO (steady|ramp|spike|budget-burn|chaos), LOAD=0, LAB_DIR, RESET=1 and the *_PORT
# variables reach the lab from the command line or the environment (make exports both).
lab: install  ## the whole lab natively until Ctrl-C (docs/lab.md)
	$(BIN)/slolab lab

clean:
	rm -rf .lab .pytest_cache
