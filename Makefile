# Switchboard developer entry points. `make run` and `make test` are the two
# commands the README promises; both bring the local servers up first.

CARGO ?= cargo
# nextest runs each test in its own process (parallel, isolated); plain
# `cargo test` is the fallback on machines without it.
TEST_RUNNER := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo "nextest run" || echo test)
DATABASE ?= switchboard

.PHONY: run test lint fmt fmt-check build unit services database bench deploy-check

## run: start every service in one process against the local servers
run: services database
	$(CARGO) run -p switchboard -- serve

## test: format check, clippy -D warnings, every test on the real servers
test: fmt-check lint deploy-check services
	$(CARGO) $(TEST_RUNNER) --workspace

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

build:
	$(CARGO) build --workspace

services:
	scripts/local-services

database: services
	@psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(DATABASE)'" | grep -q 1 \
		|| createdb -h 127.0.0.1 -U postgres $(DATABASE)

## bench: figures beside a same-run baseline (release build; not part of `test`)
bench: services
	$(CARGO) build --release -p switchboard -p switchboard-bench
	target/release/bench --bin target/release/switchboard
	target/release/auth
	target/release/knowledge --queries 500
	target/release/routing
	target/release/intake --bin target/release/switchboard
	target/release/notification
	target/release/analytics

## deploy-check: render and validate every Kubernetes shape offline
deploy-check:
	deploy/check.sh
