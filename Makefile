# Quickstart: `make demo` (embedded Snowflake, no account needed) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch is pinned: an unpinned torch pulls a multi-GB CUDA build. Point
# TORCH_INDEX at https://download.pytorch.org/whl/cpu for a CPU-only wheel elsewhere.
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
ARTIFACTS ?= artifacts

.PHONY: install demo test lint artifacts bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e '.[local,ml,dev]'
	touch $(STAMP)

# A small T5 built offline (SentencePiece tokenizer on the bundled news + a T5 config).
$(ARTIFACTS)/latest/model/model.safetensors: | $(STAMP)
	$(BIN)/python -m training.bootstrap --output $(ARTIFACTS)/bootstrap
	ln -sfn bootstrap $(ARTIFACTS)/latest

artifacts: $(ARTIFACTS)/latest/model/model.safetensors

demo: install artifacts
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install artifacts
	$(BIN)/python bench/noop_apply.py

clean:
	rm -rf .localsnow $(ARTIFACTS) .pytest_cache
