# Driftless: `make demo` runs the whole pipeline locally, `make test` runs every suite.
# Both install what they need on a fresh machine: Python tools into .venv, npm packages into sdk/,
# and (as root) Debian's chromium for the browser tests.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# The local stack's logs and pids; a second checkout sets its own (STATE=... or DRIFTLESS_STATE=...).
STATE ?= $(or $(DRIFTLESS_STATE),/tmp/driftless-local)
export DRIFTLESS_STATE := $(STATE)
# Ports of the local stack; a second checkout on the same machine sets its own (MOTO_PORT=4600 ...).
export MOTO_PORT ?= 4566
export LAMBDA_PORT ?= 9000
export AWS_ENDPOINT_URL ?= http://127.0.0.1:$(MOTO_PORT)
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export AWS_REGION ?= us-east-1
export DRIFTLESS_BUCKET ?= driftless-local
export DRIFTLESS_ENDPOINT ?= http://127.0.0.1:$(LAMBDA_PORT)/lambda-url/ingest/v1/batch
export DRIFTLESS_FUNCTIONS_URL ?= http://127.0.0.1:$(LAMBDA_PORT)
export DRIFTLESS_MOTO_URL ?= $(AWS_ENDPOINT_URL)
# The local stack's source keys (scripts/stack.sh configures them): DRIFTLESS_KEY is the server key,
# which the Python client and `driftless send` read; the others are for the browser tests and the
# shop (web, e2e) and for the tests of a disabled key (retired).
export DRIFTLESS_KEY ?= dk_local_server
export DRIFTLESS_KEY_NEXT ?= dk_local_server_next
export DRIFTLESS_WEB_KEY ?= dk_local_web
export DRIFTLESS_E2E_KEY ?= dk_local_e2e
export DRIFTLESS_RETIRED_KEY ?= dk_local_retired
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help demo report test test-rust test-python test-python-client test-sdk test-shop test-schema lint bench build deploy dev stack-up stack-down deps lock clean

help:
	@echo "make demo    run the whole pipeline locally and show what landed"
	@echo "make report  the insights report (HTML) of the lake: REPORT_ARGS=\"--bucket B --from D --to D -o F\""
	@echo "make test    run every test suite (starts and stops the local stack)"
	@echo "make bench   benchmarks, with ratios against a peer measured in the same run"
	@echo "make dev     the example shop (examples/shop) against the local stack, rebuilt on change"
	@echo "make build   arm64 release bootstraps of both functions (ingest, compact) with cargo lambda"
	@echo "make deploy  sam build + sam deploy to your AWS account (--guided the first time; docs/deploy.md)"
	@echo "make lock    re-resolve requirements-*.txt into the hashed locks (UPGRADE=1: newest allowed versions)"

# Exactly the locked versions, each checked against its hashes (`make lock` writes the locks).
$(VENV)/.installed: requirements-dev.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-dev.lock
	touch $@

# The Python client, installed from the repository as its users install it (pip install ./clients/python).
$(VENV)/.client-installed: $(VENV)/.installed clients/python/pyproject.toml $(wildcard clients/python/src/driftless/*)
	$(VENV)/bin/pip install --quiet --force-reinstall --no-deps ./clients/python
	touch $@

sdk/node_modules/.installed: sdk/package.json sdk/package-lock.json
	cd sdk && npm ci --no-audit --no-fund
	touch $@

# The SDK's dist/, which the example shop imports as @driftless/sdk and @driftless/sdk/server.
sdk/dist/.built: sdk/node_modules/.installed sdk/tsconfig.build.json $(shell find sdk/src -name '*.ts')
	cd sdk && npm run build
	touch $@

examples/shop/node_modules/.installed: examples/shop/package.json examples/shop/package-lock.json sdk/package.json
	cd examples/shop && npm ci --no-audit --no-fund
	touch $@

# Debian's chromium for the browser tests; a browser cannot be downloaded by the test tools here.
/usr/bin/chromium:
	@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is missing: install Debian's chromium package (needs root)" >&2; exit 1; fi

deps: $(VENV)/.installed $(VENV)/.client-installed sdk/node_modules/.installed examples/shop/node_modules/.installed /usr/bin/chromium

# The Python locks, from the two inputs, for Python 3.11 and later on every platform (--universal).
# The deploy lock resolves both inputs together; the dev lock is constrained to it, so a package both
# need has one version and installing the deploy lock over the dev one changes nothing already there.
# Versions already locked are kept while the inputs allow them; UPGRADE=1 takes the newest allowed.
# Extras stay on the pins (boto3-stubs[...]): pip's hash mode refuses a dependency's extras otherwise.
LOCK := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes --no-strip-extras \
	--custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
lock: $(VENV)/.installed
	$(LOCK) requirements-dev.txt requirements-deploy.txt -o requirements-deploy.lock
	$(LOCK) requirements-dev.txt --constraint requirements-deploy.lock -o requirements-dev.lock

stack-up: $(VENV)/.installed
	scripts/stack.sh up

stack-down:
	scripts/stack.sh down

demo: stack-up
	$(PY) scripts/demo.py

# The insights report (scripts/report.py) of a Delta lake: the stack's bucket unless told otherwise,
# e.g. `make report REPORT_ARGS="--dir ~/lake-copy --from 2026-11-01 --to 2026-11-30 -o nov.html"`.
REPORT_ARGS ?= --bucket $(DRIFTLESS_BUCKET) -o $(STATE)/report.html
report: $(VENV)/.installed
	$(PY) scripts/report.py $(REPORT_ARGS)

# The example shop's port (`make dev SHOP_PORT=5180`).
SHOP_PORT ?= 5173

# The shop runs in the foreground (Ctrl-C stops it); the stack stays up until `make stack-down`.
# DRIFTLESS_GZIP=0: the local stack's `cargo lambda watch` cannot carry gzip bodies (docs/clients.md).
dev: deps sdk/dist/.built
	DRIFTLESS_RELOAD=1 SHOP_PORT=$(SHOP_PORT) scripts/stack.sh up
	@echo "ingest: $(DRIFTLESS_ENDPOINT)   moto: $(AWS_ENDPOINT_URL)   logs: $(STATE)/ingest.log"
	@echo "example shop: http://127.0.0.1:$(SHOP_PORT)/   (Ctrl-C stops the shop; make stack-down stops the stack)"
	cd examples/shop && SHOP_PORT=$(SHOP_PORT) DRIFTLESS_GZIP=0 npm run dev

lint:
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings

# The CLI as `cargo test --workspace` builds it: running it with `cargo run` would build the AWS
# SDK once more with other features (aws-smithy-mocks turns on test features in test builds).
DRIFTLESS := target/debug/driftless

test: deps
	$(MAKE) lint
	scripts/stack.sh up
	trap 'scripts/stack.sh down' EXIT; \
	  $(MAKE) test-rust test-schema test-python test-python-client test-sdk test-shop

# The schema is the contract: it must be valid, the generated files current, the tracking code right.
test-schema:
	cargo test --locked --quiet --workspace --no-run
	$(DRIFTLESS) schema check
	$(DRIFTLESS) codegen --check
	$(DRIFTLESS) lint examples/shop/src examples/shop/server

# --locked: the crates of Cargo.lock, or an error that says it is stale (never a silent update).
# The client: the generated Python types are checked with mypy against the installed package.
test-rust: $(VENV)/.client-installed
	cargo test --locked --workspace

# tests/e2e drives the installed Python client and `driftless send` against the local stack.
test-python: $(VENV)/.client-installed
	$(PY) -m pytest -q tests

# The Python client's unit tests (a scripted local endpoint) and its types under mypy --strict.
test-python-client: $(VENV)/.client-installed
	$(PY) -m pytest -q clients/python/tests

test-sdk:
	cd sdk && npm test && npm run test:e2e

# The example shop: type-checked, then a purchase through Chromium, found in the lake once per event.
test-shop: sdk/dist/.built examples/shop/node_modules/.installed
	cd examples/shop && npm run typecheck && npm run test:e2e

# Speed and size are measured here, never asserted in tests; each figure has a peer from the same run.
# Builds use every core; only the measured runs are pinned to one (taskset), so per-core figures
# stay comparable and the build stays fast.
bench: $(VENV)/.installed
	@echo "== ingest: parse + validate + enrich + pack, one core (geo from the test GeoIP database)"
	cargo build --quiet --release -p driftless --example ingest_bench
	mkdir -p $(STATE) && $(PY) tests/fixtures/geo/build_mmdb.py $(STATE)/bench-city.mmdb
	taskset -c 0 target/release/examples/ingest_bench $(STATE)/bench-city.mmdb
	@echo "== ingest: what enrichment costs in instructions per event (callgrind counts the same on a busy machine)"
	$(PY) scripts/bench_enrich_instructions.py target/release/examples/ingest_bench $(STATE)/bench-city.mmdb
	@echo "== ingest: stripped release binary (host target)"
	cargo build --quiet --release -p ingest
	@ls -l target/release/ingest | awk '{printf "target/release/ingest: %.1f MiB\n", $$5 / 1048576}'
	@echo "== ingest: log bytes per request (the real binary under a stand-in Lambda, 1,000 requests)"
	cargo build --quiet --release -p ingest --example log_bytes
	target/release/examples/log_bytes target/release/ingest
	@echo "== ingest: peak memory over 10,000 local requests"
	scripts/stack.sh down
	DRIFTLESS_RELEASE=1 scripts/stack.sh up
	trap 'scripts/stack.sh down' EXIT; $(PY) scripts/bench_ingest_memory.py
	@echo "== schema toolchain: lint speed and codegen time, one core"
	cargo build --quiet --release -p driftless-cli --example lint_bench
	taskset -c 0 target/release/examples/lint_bench
	@echo "== browser SDK: track() main-thread time and bundle sizes against other SDKs"
	cd sdk && npm run bench
	@echo "== compaction: one arrival day (1 GiB of NDJSON, 5% duplicates) against DuckDB, same job"
	cargo build --quiet --release -p driftless-cli
	$(PY) scripts/bench_compact.py
	@echo "== erasure: one person from a 1 GiB day and from 30 such days, against rewriting every file"
	cargo build --quiet --release -p driftless --example erase_bench
	target/release/examples/erase_bench --size-mb 1024 --days 30 --person-days 3
	@echo "== insights report: 30 days (~33 million events) from day rollups (built, cached, one new day) against 1 day and against no rollups"
	$(PY) scripts/bench_insights.py

# target/lambda/{ingest,compact}/bootstrap. `make deploy` does not need it: `sam build` runs the same
# cargo lambda build for each function of template.yaml.
build: $(VENV)/.installed
	cargo lambda build --release --arm64 --bin ingest --bin compact

# ---------------------------------------------------------------- AWS (docs/deploy.md)
# SAM CLI goes into the same venv, on demand, from its own requirements file: `make test` never
# installs it. `sam build` finds cargo-lambda in .venv/bin (PATH above).
$(VENV)/.deploy-installed: requirements-deploy.lock $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-deploy.lock
	touch $@

# The samconfig.toml environment to deploy (`make deploy DEPLOY_ENV=prod` for a second stack).
DEPLOY_ENV ?= default
# The local stack's stand-ins exported above (moto endpoint, test credentials, us-east-1) must never
# reach AWS: deploy drops the ones this Makefile set and keeps those from the caller's environment,
# so the caller's AWS profile/environment decides the account and the region.
FOR_AWS := env $(foreach v,AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION,$(if $(filter file,$(origin $(v))),-u $(v))) SAM_CLI_TELEMETRY=$${SAM_CLI_TELEMETRY:-0}
# `sam deploy --guided` saves its answers (region included) under [<env>.deploy.parameters]; the
# committed samconfig.toml has no region, so the first deploy of an environment is guided and every
# later one reuses the saved answers. GUIDED=1 asks again (e.g. to change parameters).
SAVED_DEPLOY := $(PY) -c 'import sys, tomllib; c = tomllib.load(open("samconfig.toml", "rb")); sys.exit("region" not in c.get(sys.argv[1], {}).get("deploy", {}).get("parameters", {}))'

deploy: $(VENV)/.installed $(VENV)/.deploy-installed
	$(FOR_AWS) sam validate --lint
	$(FOR_AWS) sam build
	if [ -z "$(GUIDED)" ] && $(SAVED_DEPLOY) '$(DEPLOY_ENV)'; then \
	  $(FOR_AWS) sam deploy --config-env '$(DEPLOY_ENV)'; \
	else \
	  echo "First deploy of '$(DEPLOY_ENV)' (or GUIDED=1): sam asks for the stack's parameters and saves the answers in samconfig.toml."; \
	  $(FOR_AWS) sam deploy --guided --config-env '$(DEPLOY_ENV)'; \
	fi

clean: stack-down
	cargo clean
	rm -rf $(VENV) sdk/node_modules sdk/dist examples/shop/node_modules examples/shop/dist examples/shop/build
