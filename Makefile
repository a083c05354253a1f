# Two commands on a fresh machine: `make report` and `make test`.
# The venv is (re)installed only when pyproject.toml changes (the stamp file records the last install).

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: report lint test bench schema clean

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

test: lint
	$(BIN)/python -m pytest -q

schema: $(STAMP)  # regenerate reportgen/schema/results.schema.json from the models (tests/test_schema.py checks it)
	$(BIN)/python -m reportgen.schema

bench: $(STAMP)
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/build_time.py

clean:
	rm -rf $(VENV) output/report.* output/report-data.npz output/results.json output/summary.md output/models output/.reportgen-manifest.json
