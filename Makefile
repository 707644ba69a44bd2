# `make run` and `make test` set themselves up: a virtualenv in .venv from requirements.lock.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck unit bench lock clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

## Serve this repository on the embedded default (RocksDB and FAISS in ./.codegraph, local
## embeddings): index, watch, and answer on http://127.0.0.1:3000 (metrics on :9090).
run: $(STAMP)
	SERVER_HOST=$${SERVER_HOST:-127.0.0.1} $(BIN)/codegraph serve .

## The whole suite: lint, types, tests.
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests bench deploy scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/bench_index.py
	$(BIN)/python bench/bench_search.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_stack.py
	$(BIN)/python bench/bench_scale.py

## Re-pin every dependency (needs uv: pip install uv).
lock:
	uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --no-header

clean:
	rm -rf $(VENV) .codegraph .mypy_cache .ruff_cache .pytest_cache
