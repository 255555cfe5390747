# Two set-up commands: `make demo` and `make test`. Each creates .venv on a fresh machine.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# Test processes: one per core and one more (the browser, server and database tests wait on I/O
# a good share of the time; on 2 cores 3 workers took 917 s against 1,005 s for 2);
# TEST_WORKERS=0 runs the suite in this one process.
TEST_WORKERS ?= $(shell $(PY) -c 'import os; print((os.cpu_count() or 1) + 1)')
LINT_PATHS := src tests $(wildcard bench)

.PHONY: demo test lint fmt typecheck bench serve clean messages

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $@

demo: $(STAMP)
	$(BIN)/microtrial demo --out demo-output

lint: $(DEV_STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: $(DEV_STAMP)
	$(BIN)/mypy src

test: lint typecheck
	$(BIN)/microtrial catalog validate
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

fmt: $(DEV_STAMP)
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

bench: $(DEV_STAMP)
	$(BIN)/python bench/run_all.py

# The demo's research export needs an export key: a fixed one, for the simulated demo data only.
serve: $(STAMP)
	MICROTRIAL_EXPORT_SECRET=$${MICROTRIAL_EXPORT_SECRET:-demo-export-key-simulated-data-only} \
	$(BIN)/microtrial serve --database-url sqlite:///demo-output/demo.db

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache .cache

# Re-extract the translatable texts (Python and templates) and update every language's catalog.
# The .po files are read at run time (microtrial.i18n): nothing to compile.
LOCALE := src/microtrial/locale
messages: $(DEV_STAMP)
	PYTHONPATH=src $(BIN)/pybabel extract -F babel.cfg --no-location --sort-output -k N_ -k NP_:1c,2 -k tr:2 -o $(LOCALE)/messages.pot .
	$(BIN)/pybabel update --no-wrap --no-fuzzy-matching --ignore-obsolete -i $(LOCALE)/messages.pot -d $(LOCALE) -D messages
