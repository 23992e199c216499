# Two commands on a fresh machine: `make demo` runs the platform on the local cloud with demo data,
# `make test` passes the tests. Each installs what it needs first (Python >= 3.11 and Node.js >= 20).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The HTTP API port of `make demo` and `make up` (the local AWS endpoint takes the next one when it is free):
# `make demo PORT=3001`. Set with `:=`, so a PORT variable in the environment does not move the demo.
PORT := 3000
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

.PHONY: install demo up test lint synth deploy bench clean

$(STAMP): pyproject.toml package.json
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "shelfwise needs Python 3.11 or newer"'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -e ".[dev]"
	npm ci --no-audit --no-fund --silent
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/shelfwise demo --port $(PORT)

up: install
	$(BIN)/shelfwise local up --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -q

synth: install
	npx cdk synth --quiet -c bundle_layers=false

deploy: install
	npx cdk deploy --all

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .ruff_cache
