# sstrkit developer entry points. Each target creates .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PY_PATHS := src tests benchmarks examples

.PHONY: demo test lint typecheck format bench docs clean web-assets

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "sstrkit needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	@touch $(STAMP)

demo: $(STAMP) web-assets
	$(BIN)/sstrkit demo --out demo-output

test: $(STAMP) web-assets
	$(BIN)/ruff check $(PY_PATHS)
	$(BIN)/ruff format --check $(PY_PATHS)
	$(BIN)/mypy
	$(BIN)/python -m pytest -q
	@$(MAKE) --no-print-directory docs

lint: $(STAMP)
	$(BIN)/ruff check $(PY_PATHS)

format: $(STAMP)
	$(BIN)/ruff format $(PY_PATHS)
	$(BIN)/ruff check --fix $(PY_PATHS)

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# API reference + guides into site/ (offline, --strict: a broken reference fails the build).
# Installs the docs extra first when a venv made before it lacks it.
docs: $(STAMP)
	@$(BIN)/python -c 'import mkdocs, mkdocstrings, mkdocstrings_handlers.python, pymdownx' \
		2>/dev/null || $(BIN)/python -m pip install --quiet -e '.[docs]'
	$(BIN)/mkdocs build --strict --quiet -d site
	@echo "API reference: site/index.html"

# The web review's browser libraries (NiiVue): npm ci from web/package-lock.json, then
# copied into the package's git-ignored static folder; served offline by 'sstrkit serve'.
WEB_VENDOR := src/sstrkit/web/static/vendor
web-assets: $(WEB_VENDOR)/niivue.js

$(WEB_VENDOR)/niivue.js: web/package.json web/package-lock.json web/vendor.mjs
	cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	node web/vendor.mjs $(WEB_VENDOR)

clean:
	rm -rf $(VENV) demo-output site .pytest_cache .mypy_cache .ruff_cache web/node_modules $(WEB_VENDOR)
