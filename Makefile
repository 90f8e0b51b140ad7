# Victim Survey Workbench: the two commands a newcomer needs are `make report` and `make test`.
# Both work on a fresh machine with Python 3.11, git and make; everything else is installed here.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | cksum | cut -d' ' -f1)
# Debian packages the tests need: R's survey package is the reference implementation.
DEB_PKGS := r-base-core r-cran-survey r-cran-mass
# Debian's Chromium prints report.html to PDF (vsw report --pdf).
DEB_PDF  := chromium
PYTEST_ARGS ?=

.PHONY: help venv report test sysdeps lint bench clean lock notebooks r-reference

help:
	@echo "make report   create .venv, install, build the synthetic demo store and a monthly report"
	@echo "make test     install test extras (and Debian packages when root) and run pytest + nbval"
	@echo "make lint     ruff check + format check"
	@echo "make r-reference  rewrite tests/reference/ from R (the figures tests use without R)"
	@echo "make bench    run the benchmarks under bench/ (prints ratios against samplics and R)"

# The tested versions: requirements.lock pins every package (make lock rewrites it from a fresh
# resolve of pyproject.toml); the workbench itself is installed editable on top, without deps.
$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found"; exit 1; }
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

report: venv
	$(BIN)/vsw demo

# Install the Debian packages the tests need when running as root and they are missing:
# R's survey package (the reference implementation) and Chromium (prints the report to PDF).
sysdeps:
	@if [ "$$(id -u)" = "0" ]; then \
		need=""; \
		Rscript -e 'library(survey); library(MASS)' >/dev/null 2>&1 || need="$(DEB_PKGS)"; \
		command -v chromium >/dev/null 2>&1 || need="$$need $(DEB_PDF)"; \
		if [ -n "$$need" ]; then \
			echo "Installing Debian packages:$$need"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
		fi; \
	fi

test: venv sysdeps
	$(BIN)/ruff check src tests bench notebooks tools
	$(BIN)/lint-imports
	$(BIN)/python -m pytest --nbval --nbval-sanitize-with notebooks/nbval_sanitize.cfg \
		--nbval-current-env tests notebooks $(PYTEST_ARGS)

# Rewrite the committed copies of R's figures (tests/reference/): run after changing a scenario
# in tests/reference/scenarios.R or tests/r/*.R; the tests use them where R is not installed.
r-reference: sysdeps
	Rscript --vanilla tests/reference/make_reference.R tests/reference

lint: venv
	$(BIN)/ruff check src tests bench notebooks tools
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

# Rewrite requirements.lock from a clean resolve of pyproject.toml (with the test extras).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet --upgrade pip
	.lockenv/bin/python -m pip install --quiet ".[test]"
	.lockenv/bin/python -m pip freeze --exclude victim-survey-workbench > requirements.lock
	rm -rf .lockenv

# Re-execute the notebooks from their jupytext pairs (notebooks/*.py) and save their outputs.
notebooks: venv
	$(BIN)/python tools/run_notebooks.py

bench: venv
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
