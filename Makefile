# Two commands matter: `make run` and `make test`. Each creates .venv and installs what it needs.

# the first interpreter on PATH that runs and is 3.11 or newer
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { command -v $$p; break; }; \
	done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
XDIST  ?= 2

.PHONY: run test lint typecheck unit integration services demo bench clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Helloword needs Python 3.11 or newer on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/helloword run

test: $(STAMP) services lint typecheck
	$(BIN)/pytest -n $(XDIST) -q -p no:cacheprovider
	HELLOWORD_TEST_DATABASE=sqlite $(BIN)/pytest -n $(XDIST) -q -p no:cacheprovider tests/integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

services:
	@bash .ci/services

demo: $(STAMP)
	$(BIN)/helloword demo --returns 50

bench: $(STAMP) services
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) instance labels .mypy_cache .ruff_cache
