# `make run` and `make test` set themselves up: a virtualenv in .venv from requirements.lock
# (scripts/setup-venv.sh: with uv when it can be had, else pip). `make run` installs only
# what CodeGraph needs to run; `make test` adds the test and lint tools.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PINS := $(shell cat requirements.lock pyproject.toml scripts/setup-venv.sh | cksum | cut -d' ' -f1)
RUN_STAMP := $(VENV)/.run-$(PINS)
DEV_STAMP := $(VENV)/.dev-$(PINS)
# The web UI's graph library (pinned, sha512-checked; not in git): scripts/fetch-ui-assets.py
UI_ASSET := src/codegraph/ui/static/vendor/cytoscape.min.js.version

.PHONY: run test lint typecheck unit bench lock clean

$(RUN_STAMP): requirements.lock pyproject.toml scripts/setup-venv.sh
	PYTHON=$(PYTHON) scripts/setup-venv.sh $(VENV)
	rm -f $(VENV)/.run-* $(VENV)/.installed-*
	touch $@

$(DEV_STAMP): requirements.lock pyproject.toml scripts/setup-venv.sh
	PYTHON=$(PYTHON) scripts/setup-venv.sh $(VENV) --dev
	rm -f $(VENV)/.run-* $(VENV)/.dev-* $(VENV)/.installed-*
	touch $@ $(RUN_STAMP)

$(UI_ASSET): scripts/fetch-ui-assets.py
	$(PYTHON) scripts/fetch-ui-assets.py

## Serve this repository on the embedded default (RocksDB and FAISS in ./.codegraph, local
## embeddings): index, watch, and answer on http://127.0.0.1:3000 (metrics on :9090).
run: $(RUN_STAMP) $(UI_ASSET)
	SERVER_HOST=$${SERVER_HOST:-127.0.0.1} $(BIN)/codegraph serve .

## The whole suite: lint, types, tests.
test: lint typecheck unit

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench deploy scripts

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

unit: $(DEV_STAMP) $(UI_ASSET)
	$(BIN)/python -m pytest

bench: $(DEV_STAMP)
	$(BIN)/python bench/bench_index.py
	$(BIN)/python bench/bench_search.py
	$(BIN)/python bench/bench_api.py
	$(BIN)/python bench/bench_load.py
	$(BIN)/python bench/bench_stack.py
	$(BIN)/python bench/bench_scale.py

## Re-pin every dependency (with the uv that setup installed, or one on PATH).
lock:
	$$(command -v $(BIN)/uv || command -v uv) pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --no-header

clean:
	rm -rf $(VENV) .codegraph .mypy_cache .ruff_cache .pytest_cache
