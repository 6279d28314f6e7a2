# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
# Both (re)create the virtualenv in .venv and install the project (editable) with every extra and the test
# tools, at the exact versions of constraints.txt (pyproject.toml itself only declares ranges).
PYTHON      ?= python3
VENV        ?= .venv
CONSTRAINTS := constraints.txt
STAMP       := $(VENV)/.installed-stamp
# Test workers (pytest-xdist): CI has two cores; the Verilator builds are shared between workers under a lock.
TEST_WORKERS ?= 2

.PHONY: demo test test-all venv clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -c $(CONSTRAINTS) --upgrade pip
	$(VENV)/bin/pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/openeie demo -o out/demo

test: $(STAMP)
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS)

test-all: $(STAMP)
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) -m "slow or not slow"

clean:
	rm -rf $(VENV) build out .pytest_cache
