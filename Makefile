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

.PHONY: install ocr run chat ingest browser test lint bench eval clean

# Debian's Chromium for the browser tests (a test tool's own browser download cannot work offline).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# torch first and pinned: anything that pulls torch on its own takes a newer CUDA build (gigabytes).
# Reinstalls only when pyproject.toml changes.
$(STAMP): pyproject.toml | ocr
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

ingest: $(STAMP)
	$(BIN)/rag ingest

# The web UI and the HTTP API on one port: http://127.0.0.1:8000/ui/ (RAG_HOST / RAG_PORT to change).
run: ingest
	$(BIN)/rag serve

chat: ingest
	$(BIN)/rag chat

# Debian's tesseract reads scanned PDF pages (OCR). Without it everything else works and scanned pages
# are skipped with that reason, so a machine without apt or sudo only warns.
ocr:
	@command -v tesseract >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq tesseract-ocr tesseract-ocr-eng; } \
		|| echo "warning: tesseract-ocr could not be installed: scanned PDF pages will be skipped" >&2

browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

lint: $(STAMP)
	$(BIN)/ruff check .

test: lint browser
	$(BIN)/pytest

# Benchmarks (minutes; run on a quiet machine): bench/results/*.json and bench/results/summary.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run

eval: ingest
	$(BIN)/rag eval evals/seed.jsonl

clean:
	rm -rf .rag .pytest_cache
