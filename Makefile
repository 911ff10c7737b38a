# The two commands a new user runs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports unit bench clean postgres restate conformance docs fuzz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/cli_walkthrough.py

# The PostgresStorage tests start a throwaway PostgreSQL: install its programs if missing.
postgres:
	bash scripts/ensure-postgres

# The admin-API tests start a throwaway restate-server: install it (npm) into .cache/restate.
restate:
	bash scripts/ensure-restate

unit: $(STAMP) postgres restate
	$(BIN)/python -m pytest

typecheck: $(STAMP)
	$(BIN)/python -m mypy

lint: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

# The layers of the package, as pyproject.toml's import-linter contracts say.
imports: $(STAMP)
	$(BIN)/lint-imports

test: unit typecheck lint imports

bench: $(STAMP) postgres
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache

# Differential conformance (tests/conformance): many random scenarios on a real restate-server
# and on the model, compared after every step. `make test` runs a few of them.
CONFORMANCE_SCENARIOS ?= 50
CONFORMANCE_STEPS ?= 30
conformance: $(STAMP) restate
	CONFORMANCE_SCENARIOS=$(CONFORMANCE_SCENARIOS) CONFORMANCE_STEPS=$(CONFORMANCE_STEPS) \
		$(BIN)/python -m pytest -m conformance tests/conformance

# The API reference, from the docstrings of every public module, into build/docs.
# Every public module, but those its package documents already (named in the package's __all__).
DOC_MODULES = $(BIN)/python -c "import importlib, pkgutil, restate_versioning as r; \
	names = [m.name for m in pkgutil.walk_packages(r.__path__, 'restate_versioning.') \
	if not any(p.startswith('_') for p in m.name.split('.'))]; \
	listed = lambda n: n.rpartition('.')[2] in getattr(importlib.import_module(n.rpartition('.')[0]), '__all__', ()); \
	print(' '.join(['restate_versioning'] + [n for n in names if not listed(n)]))"
docs: $(STAMP)
	rm -rf build/docs
	$(BIN)/python -m pdoc -o build/docs $$($(DOC_MODULES))
	@echo "the API reference is in build/docs/index.html"

# Bounded fuzzing (tests/fuzz): hostile manifests, endpoints, ids, snapshots, schemas and store
# records, asserting only library errors, no change on refusal and a time bound per input.
# FUZZ_EXAMPLES is the number of manifests; the other surfaces get a share of it (see
# tests/fuzz/_tally.py). `make test` runs a small slice of it, and of the focused fuzz tests
# beside the tests of each surface (also marked `fuzz`).
FUZZ_EXAMPLES ?= 50000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -m fuzz -p no:cacheprovider tests/fuzz
