# Two commands on a fresh Debian machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: demo test lint soak bootstrap debian-packages venv bench clean

demo: bootstrap
	$(VENV)/bin/streetwatch demo $(DEMO_ARGS)

test: bootstrap lint
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .

# The long version of the bounded runs in `make test`: 100,000 fuzz messages through the ingester.
soak: bootstrap
	STREETWATCH_FUZZ_MESSAGES=100000 $(VENV)/bin/python -m pytest tests/integration/test_ingest_fuzz.py $(PYTEST_ARGS)

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

# The rule engine against its goals (bench/README.md): about 3-4 minutes on 2 cores.
.PHONY: bench-rules
bench-rules: bootstrap
	$(VENV)/bin/python bench/rules.py
