# astro-gateway: `make run` starts a demo gateway with the built-in Astro simulator;
# `make test` runs the whole suite. Both install missing system packages first.
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libhiredis-dev pkg-config ca-certificates openssl curl
# Only the tests need a Redis server (the cluster suites start their own on loopback ports).
TEST_PACKAGES := redis-server
BIN := .build/debug/astro-gateway
DEMO_DIR := var/demo

.PHONY: deps build run test lint bench clean

deps:
	@missing=""; for p in $(APT_PACKAGES) $(EXTRA_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

build: deps
	swift build

lint:
	swift format lint --strict -r Package.swift Sources Tests

run: build
	@bash scripts/demo.sh

test: EXTRA_PACKAGES := $(TEST_PACKAGES)
test: deps lint
	swift build --build-tests
	swift test --skip-build --no-parallel

bench: EXTRA_PACKAGES := $(TEST_PACKAGES)
bench: deps
	bash bench/run

clean:
	rm -rf .build var
