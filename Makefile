# Two commands on a fresh machine: `make report` and `make test`.
# The venv is (re)installed only when pyproject.toml changes (the stamp file records the last install).

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: report lint mypy-baseline test test-fast bench schema clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/reportgen build

lint: $(STAMP)
	$(BIN)/ruff check reportgen tests benchmarks
	$(BIN)/ruff format --check reportgen tests benchmarks
	$(BIN)/mypy --no-error-summary reportgen | $(BIN)/mypy-baseline filter --hide-stats --no-colors  # fails on a type error not in mypy-baseline.txt

mypy-baseline: $(STAMP)  # after fixing type errors: drop them from mypy-baseline.txt (it only shrinks)
	$(BIN)/mypy reportgen | $(BIN)/mypy-baseline sync

# Two worker processes, one per core; a test module stays in one of them, so its fixtures are made once. Bytecode is
# written even where the environment says not to (PYTHONDONTWRITEBYTECODE): pytest then rewrites the test modules'
# assertions once per checkout, not in each worker at every run (about 4 s of each worker's start from the second run).
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n 2 --dist loadfile

test: lint
	$(PYTEST)

# Everything but the tests marked slow (real training, the Dask cluster): for the edit-test loop, not for CI.
test-fast: lint
	$(PYTEST) -m "not slow"

schema: $(STAMP)  # regenerate reportgen/schema/results.schema.json from the models (tests/test_schema.py checks it)
	$(BIN)/python -m reportgen.schema

bench: $(STAMP)
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/build_time.py

clean:
	rm -rf $(VENV) output/report.* output/report-data.npz output/results.json output/summary.md output/runs.csv output/claims.csv output/models output/.reportgen-manifest.json
