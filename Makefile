# jiancha developer entry points: `make demo`, `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: help demo test lint pytest install install-test clean-venv

help:
	@echo "make demo   - create $(VENV) if needed, install jiancha, run 'jiancha demo'"
	@echo "make test   - create $(VENV) if needed, install jiancha[test], run ruff + pytest"
	@echo "              (extra pytest arguments: make test PYTEST_ARGS='-k calendar -x')"

# The virtualenv itself; only created when missing.
$(VPY):
	$(PYTHON) -m venv $(VENV)

# Install stamps: re-run pip only when pyproject.toml changed (or the venv is new).
$(VENV)/.installed: pyproject.toml | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check -q -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(VPY)
	$(VPY) -m pip install --disable-pip-version-check -q -e '.[test]'
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(VENV)/bin/jiancha demo

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# pytest exit 5 (no tests collected) is a failure too; any non-zero code fails the target.
define run_pytest
	@rc=0; $(VPY) -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ "$$rc" -eq 5 ]; then echo "make: pytest collected no tests (exit 5): failing" >&2; fi; \
	exit "$$rc"
endef

pytest: $(VENV)/.installed-test
	$(run_pytest)

test: $(VENV)/.installed-test
	@bash .ci/system-packages
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(run_pytest)

clean-venv:
	rm -rf $(VENV)
