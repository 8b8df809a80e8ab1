# Two commands on a fresh Debian machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: demo test bootstrap debian-packages venv bench clean

demo: bootstrap
	$(VENV)/bin/streetwatch demo $(DEMO_ARGS)

test: bootstrap
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

bench: bootstrap
	$(VENV)/bin/python bench/ingest.py

bootstrap: debian-packages venv

debian-packages:
	@bash tools/install-debian-packages.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
