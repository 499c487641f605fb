# Loopdesk developer entry points. `make run` starts the stack locally, `make test` is
# what CI runs (.ci/run). `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Builds are cached outside the clone, shared by every checkout on the machine.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/loopdesk/target

CARGO ?= cargo
# Tests use the real PostgreSQL and RabbitMQ: keep parallelism moderate.
TEST_THREADS ?= 4
# Extra arguments for the test runner, e.g. TEST_ARGS='-E package(api-gateway)'.
TEST_ARGS ?=
# The schema tool, built in the dev profile the tests share.
SCHEMAS := $(CARGO) run --quiet -p loopdesk-schemas --
# The OpenAPI tool, likewise.
OPENAPI := $(CARGO) run --quiet -p loopdesk-openapi --

HAVE_NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: help run stop token up down build test test-only lint fmt fmt-check clippy \
	schemas schemas-check openapi openapi-check bench clean-test-dbs validate-deploy

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

run: ## Build and start ticket-service + api-gateway locally, print a test key (Ctrl-C stops)
	@./scripts/run.sh

stop: ## Stop services left running by `make run`
	@./scripts/stop.sh

token: ## Mint a test key with every ability for tenant acme (same dev key as `make run`)
	@./scripts/token.sh

up: ## Build the images and start the whole stack with Docker Compose (deploy/README.md)
	docker compose up -d --build

down: ## Stop the Docker Compose services
	docker compose down

build: ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

test: fmt-check schemas-check openapi-check validate-deploy clippy test-only ## Everything CI checks: fmt, schema and OpenAPI drift, deploy files, clippy, tests

test-only: ## Run the tests only (nextest when installed)
ifeq ($(HAVE_NEXTEST),yes)
	$(CARGO) nextest run --workspace --test-threads $(TEST_THREADS) $(TEST_ARGS)
else
	$(CARGO) test --workspace $(TEST_ARGS) -- --test-threads $(TEST_THREADS)
endif

validate-deploy: ## Validate Dockerfile, compose file and Kubernetes manifests offline, and that the checks bite
	./scripts/validate-deploy.sh
	./scripts/validate-deploy.sh --self-test

lint: fmt-check clippy ## rustfmt check and clippy with warnings as errors

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

schemas: ## Regenerate proto-schemas/ from loopdesk-contracts
	$(SCHEMAS) --write

schemas-check: ## Fail if proto-schemas/ differs from loopdesk-contracts
	$(SCHEMAS) --check

openapi: ## Regenerate openapi/openapi.json from the gateway's handlers and types
	$(OPENAPI) --write

openapi-check: ## Fail if openapi/openapi.json differs from what the gateway generates
	$(OPENAPI) --check

bench: ## Measure throughput and latency end to end (BENCH_ARGS='-n 20000 --rate 1500 ...', PROFILE=profiling)
	@PROFILE=$(or $(PROFILE),release) ./scripts/bench.sh

clean-test-dbs: ## Drop test databases left by crashed runs (older than OLDER_THAN_MINUTES=60)
	@./scripts/clean-test-dbs.sh
