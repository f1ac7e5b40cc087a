# COELHO RealTime Serverless: every target sets up what it needs, and re-running is cheap.
#   make up     local stack (Kafka, Redis, functions, eventing emulator, Prometheus)
#   make test   the test suite against real servers started by fixtures
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKA_LIBS := .coelho/kafka/libs
# MinIO, the S3 server of the tests and of `COELHO_S3_ENDPOINT=local`, built from the Go module
# proxy once per data directory (about 3 min cold, seconds with Go's caches warm). Without Go,
# or if the build fails, the S3 tests fall back to moto's standalone server.
MINIO := .coelho/bin/minio
MINIO_MODULE := github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# binary:debian-package pairs; a package is installed only when its binary is missing
DEPS := redis-server:redis-server prometheus:prometheus chromium:chromium \
        chromedriver:chromium-driver java:openjdk-17-jre-headless mvn:maven \
        amtool:prometheus-alertmanager shellcheck:shellcheck

.PHONY: help deps venv kafka-jars minio up down test bench soak lint format

help:
	@echo "targets: deps venv kafka-jars minio up down test bench soak lint format (k3d-* in k3d/targets.mk)"

deps:
	@missing=""; \
	for pair in $(DEPS); do \
		command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	else echo "deps: all present"; fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

kafka-jars: venv
	$(BIN)/python -c 'from pathlib import Path; from coelho.stack.kafka import fetch_jars; \
		print("kafka jars:", fetch_jars(Path("$(KAFKA_LIBS)")))'

minio: $(MINIO)

$(MINIO):
	@if command -v go >/dev/null; then \
		echo "minio: building $(MINIO_MODULE)"; \
		mkdir -p $(@D) && GOBIN=$(abspath $(@D)) timeout 1200 go install $(MINIO_MODULE) \
			|| echo "minio: build failed; S3 tests use moto instead"; \
	else echo "minio: no Go toolchain; S3 tests use moto instead"; fi

up: deps venv kafka-jars minio
	$(BIN)/coelho up

down: venv
	$(BIN)/coelho down

test: deps venv kafka-jars minio
	$(BIN)/pytest

bench: deps venv kafka-jars
	$(BIN)/python -m tests.bench

# The whole local stack at a fixed rate for a fixed time; growth per 100k events of every
# process's RSS, Redis, MLflow, logs (.coelho/bench.json "soak"). SOAK_SECONDS=600 for less.
SOAK_SECONDS ?= 1800
SOAK_RATE ?= 100
soak: deps venv kafka-jars
	$(BIN)/python -m tests.bench.soak --seconds $(SOAK_SECONDS) --rate $(SOAK_RATE)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

-include k3d/targets.mk
