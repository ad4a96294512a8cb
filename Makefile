# Every target creates the virtualenv it needs on first use; a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/demo.toml
ATLAS ?= atlas/demo
PYTEST_ARGS ?=

.PHONY: install render train site serve test test-fast bench lint format clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cpu,test]'
	@# Lucid pins numpy<=1.19; it is only a reference oracle in tests, run in its own process.
	$(PY) -m pip install --quiet --no-deps lucid==0.3.10
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(VENV)/bin/vtl train --config $(CONFIG)

render: $(STAMP)
	$(VENV)/bin/vtl render --config $(CONFIG)

site: $(STAMP)
	$(VENV)/bin/vtl site --atlas $(ATLAS) --out dist

serve: site
	$(PY) -m http.server --directory dist 8000

test: $(STAMP)
	bash tests/setup_system.sh
	$(PY) -m pytest -n 2 --timeout 900 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow and not browser" $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/render.py

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf dist build *.egg-info .pytest_cache
