# Every set-up step lives here: a fresh machine needs only `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: setup assets browser run test lint typecheck unit kafka-start kafka-stop bench reliability fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) assets

## The dashboard's chart library (ECharts from npm, pinned version + sha512) into an ignored folder.
assets:
	bash scripts/vendor-assets.sh

## The browser tests drive Debian's chromium (no browser download by Playwright).
browser:
	@command -v chromium > /dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -q chromium; }

## The main job: broker + worker + API on the embedded engine, fed demo traffic through Kafka.
run: setup
	bash scripts/run-local.sh

## The whole test suite: lint, types, unit and integration tests on the real broker and engine.
test: setup browser lint typecheck
	bash deploy/kafka/kafka.sh install
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

## Benchmarks: writes docs/benchmarks.md and its plots (QUICK=1: small smoke run;
## MODE=10m: the query figures at 10M events, same layer + PostgreSQL + HTTP, no ingest, < 15 min;
## MODE=100m: the query figures at 100M events (same layer and HTTP, no PostgreSQL, no ingest),
## into docs/benchmarks-100m.md; MODE=ingest: the ingest section alone, into docs/benchmarks-ingest.md).
BENCH_10M := --sizes 10000000 --ingest-events 0 --http-requests 60 --layer-requests 16 --label "make bench MODE=10m"
BENCH_100M := --sizes 100000000 --pg-events 0 --ingest-events 0 --http-requests 60 --layer-requests 16 --label "make bench MODE=100m" --out docs/benchmarks-100m.md --plots docs/benchmarks-100m
BENCH_INGEST := --sizes 0 --label "make bench MODE=ingest" --out docs/benchmarks-ingest.md --plots docs/benchmarks-ingest
bench: setup
	bash deploy/kafka/kafka.sh install
	$(BIN)/python -m bench.run $(if $(QUICK),--quick --out .cache/bench/quick.md --plots .cache/bench/quick-plots,) $(if $(filter 10m,$(MODE)),$(BENCH_10M),) $(if $(filter 100m,$(MODE)),$(BENCH_100M),) $(if $(filter ingest,$(MODE)),$(BENCH_INGEST),)

## The fault suite at full size (SIGKILLs, broker restart, storage outage, API load during
## ingest): writes docs/reliability.md. QUICK=1: the small run that `make test` also runs.
reliability: setup
	bash deploy/kafka/kafka.sh install
	$(BIN)/python -m tests.faults $(if $(QUICK),--quick,)

## The API fuzzed from its OpenAPI document, long run (make test runs 15 examples per case).
fuzz: setup
	LLMHUB_FUZZ_EXAMPLES=$${LLMHUB_FUZZ_EXAMPLES:-400} $(BIN)/pytest -q -s tests/integration/test_fuzz_api.py

kafka-start:
	bash deploy/kafka/kafka.sh start

kafka-stop:
	bash deploy/kafka/kafka.sh stop

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
