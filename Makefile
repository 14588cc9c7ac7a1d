# models-processor: the two set-up commands are `make run` and `make test` (see README.md).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The venv is rebuilt when a requirements file changes.
STAMP  := $(VENV)/.installed

.PHONY: run stop test test-fast bench deploy-checks clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## run: local Kafka broker + the processor in the background, a sample request, and its answer
run: $(STAMP)
	$(PY) deploy/run_local.py up

## stop: stop the processor and the local broker started by `make run`
stop:
	$(PYTHON) deploy/run_local.py down

## test: the whole suite on a real Kafka broker (started locally unless KAFKA_BOOTSTRAP_SERVERS is set)
test: $(STAMP)
	sh deploy/tools/install-kustomize.sh
	$(PY) -m pytest

## test-fast: unit tests only
test-fast: $(STAMP)
	$(PY) -m pytest tests/unit

## bench: throughput, latency, OCR speed and accuracy figures (prints ratios; see bench/README.md)
bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .cache .pytest_cache
