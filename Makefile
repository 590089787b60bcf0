# dbaudit developer tasks. Everything runs from the project's own virtualenv (.venv), created on demand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Re-install when pyproject.toml changes (new dependency, new entry point), not on every target.
STAMP  := $(VENV)/.dbaudit-installed

.PHONY: install system-deps test lint demo bench docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,demo]'
	touch $(STAMP)

# The servers and browser the suite runs (PostgreSQL + hypopg, MariaDB, Chromium), installed when missing.
system-deps:
	@scripts/system-deps

# pytest's exit code 5 means "no tests collected": say so instead of leaving a bare failure.
# system-deps comes first: it also brings python3-venv, which `install` needs on a bare Debian.
test: system-deps install
	@$(BIN)/python -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

lint: install
	$(BIN)/ruff check auditor checks reports tests demo bench
	$(BIN)/mypy auditor checks reports demo bench

demo: install
	$(BIN)/python demo/run_demo.py

bench: install
	$(BIN)/python bench/bench_checks.py
	$(BIN)/python bench/bench_scale.py
	$(BIN)/python bench/bench_catalog.py
	$(BIN)/python bench/bench_percentiles.py
	$(BIN)/python bench/bench_normalization.py
	$(BIN)/python bench/bench_cost.py
	$(BIN)/python bench/bench_history.py

docs: install
	@mkdir -p docs
	$(BIN)/dbaudit checks --format markdown > docs/checks.md.tmp
	mv docs/checks.md.tmp docs/checks.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
