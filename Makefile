# models-processor: the two set-up commands are `make run` and `make test` (see README.md).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The venv is refreshed when a requirements file or pyproject.toml changes.
STAMP  := $(VENV)/.installed

.PHONY: run stop test test-fast check bench deploy-checks clean ollama-local

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# The package itself (models_processor, testkit), editable: the pins above are the dependencies.
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

## run: local Kafka broker + the processor in the background, a sample request, and its answer
run: $(STAMP)
	$(PY) deploy/run_local.py up

## stop: stop the processor and the local broker started by `make run`
stop:
	$(PY) deploy/run_local.py down

## test: the whole suite on a real Kafka broker (started locally unless KAFKA_BOOTSTRAP_SERVERS is set) and a real
## Ollama (built locally unless OLLAMA_HOST is set)
test: check ollama-local
	sh deploy/tools/install-kustomize.sh
	sh deploy/tools/install-kubeconform.sh
	sh deploy/tools/install-checkov.sh
	$(PY) -m pytest

## check: lint (ruff, incl. import order) and strict type check (mypy) of the package; config in pyproject.toml
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

## test-fast: the seconds-long subset: no broker, no real OCR, no HTTP model server (see pytest.ini markers)
test-fast: check
	$(PY) -m pytest -m "not broker and not ocr and not ollama and not browser and not slow"

## bench: throughput, latency, OCR speed and accuracy figures (prints ratios; see bench/README.md)
bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache

## ollama-local: build Ollama 0.17.4 and import the tiny model into the user cache (once: about 10 min on 2 cores;
## docs/local-ollama.md); nothing to do when OLLAMA_HOST names an existing server
ollama-local: $(STAMP)
	@if [ -n "$$OLLAMA_HOST" ]; then echo "OLLAMA_HOST=$$OLLAMA_HOST: using that server, no local Ollama build"; \
	else $(PY) -m testkit.local_ollama install-model; fi
