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
# Every dependency of `pip install -e .[dev]` at an exact version with its hashes, resolved for CPython 3.11 on
# Linux x86_64 (the CI machine) by `make lock`. torch is left out: which wheel it is (CPU or CUDA) depends on
# where it is installed from (see README), and the lock pins its dependencies for the CPU build.
LOCK := requirements.lock
# Where `make lock` finds torch's CPU wheels. Offline or behind a mirror: a folder of wheels,
# `make lock TORCH_WHEELS=/path/to/wheels`.
TORCH_WHEELS := https://download.pytorch.org/whl/cpu/torch/

.PHONY: install lock demo up test lint synth deploy bench clean

# On the platform the lock was resolved for, the locked versions and hashes first; then the project, which adds
# torch (as pinned in pyproject.toml) and, on other platforms, resolves from pyproject.toml's pins.
$(STAMP): pyproject.toml $(LOCK) package.json
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "shelfwise needs Python 3.11 or newer"'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	if $(BIN)/python -c 'import platform, sys; sys.exit(not (sys.version_info[:2] == (3, 11) and platform.system() == "Linux" and platform.machine() == "x86_64"))'; then \
		$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK); \
	fi
	$(BIN)/pip install --quiet -e ".[dev]"
	npm ci --no-audit --no-fund --silent
	touch $(STAMP)

install: $(STAMP)

# Rewrites requirements.lock from pyproject.toml; run it after changing any pin there, and commit both.
lock: install
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --generate-hashes --no-emit-package torch \
		--find-links $(TORCH_WHEELS) --custom-compile-command "make lock" --quiet --output-file $(LOCK)

demo: install
	$(BIN)/shelfwise demo --port $(PORT)

up: install
	$(BIN)/shelfwise local up --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

synth: install
	npx cdk synth --quiet -c bundle_layers=false

deploy: install
	npx cdk deploy --all

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .ruff_cache .mypy_cache
