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

.PHONY: install compat snowcli demo test lint artifacts bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/pip install --quiet -e '.[local,ml,dev]'
	touch $(STAMP)

# The `tiny` config: a small T5 built offline (SentencePiece tokenizer on the bundled
# news + a T5 config), fine-tuned for ~1-2 minutes on CPU; the run becomes artifacts/latest.
$(ARTIFACTS)/latest/model/model.safetensors: | $(STAMP)
	$(BIN)/python -m training --config training/configs/tiny.yaml --artifacts $(ARTIFACTS)

artifacts: $(ARTIFACTS)/latest/model/model.safetensors

# UDF workers run in .venv-compat (Snowflake's channel line), so the demo needs it too.
demo: install compat artifacts
	PATH="$(abspath $(BIN)):$$PATH" bash scripts/demo.sh

# Snowflake's transformers 4.41 in a second venv, for tests/test_transformers4_compat.py
# (the script's own stamp decides whether anything needs doing).
compat:
	PYTHON="$(PYTHON)" TORCH_VERSION="$(TORCH_VERSION)" TORCH_INDEX="$(TORCH_INDEX)" bash scripts/compat_env.sh

# The Snowflake CLI in its own venv (it pins every dependency exactly), for tests/test_snow_cli.py.
snowcli:
	PYTHON="$(PYTHON)" bash scripts/snow_env.sh

test: install $(if $(filter 1,$(T5_SKIP_COMPAT)),,compat) $(if $(filter 1,$(T5_SKIP_SNOWCLI)),,snowcli)
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install artifacts
	$(BIN)/python bench/noop_apply.py

clean:
	rm -rf .localsnow $(ARTIFACTS) .pytest_cache .venv-compat .venv-snow
