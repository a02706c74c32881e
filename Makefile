# Two commands do all set-up on a fresh machine: `make run` (the chatbot) and `make test` (the tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Everything runs offline: models come from PyPI packages, never from a hub at run time.
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False

.PHONY: install run ingest test lint eval clean

# torch first and pinned: anything that pulls torch on its own takes a newer CUDA build (gigabytes).
# Reinstalls only when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

ingest: $(STAMP)
	$(BIN)/rag ingest

run: ingest
	$(BIN)/rag chat

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

eval: ingest
	$(BIN)/rag eval evals/seed.jsonl

clean:
	rm -rf .rag .pytest_cache
