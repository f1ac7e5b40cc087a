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
# MinIO, the S3 server of `make up` (MLflow artifacts and the lakehouse) and of the tests,
# built from the Go module proxy once per data directory (about 3 min cold, seconds with Go's
# caches warm; a line every 15 s while it builds).
MINIO := .coelho/bin/minio
MINIO_MODULE := github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# binary:debian-package pairs; a package is installed only when its binary is missing
DEPS := redis-server:redis-server prometheus:prometheus chromium:chromium \
        chromedriver:chromium-driver java:openjdk-17-jre-headless mvn:maven \
        amtool:prometheus-alertmanager shellcheck:shellcheck

.PHONY: help deps venv kafka-jars minio up down test bench lint format

help:
	@echo "targets: deps venv kafka-jars minio up down test bench lint format (k3d-* in k3d/targets.mk)"

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
	@command -v go >/dev/null || { echo "minio: needs a Go toolchain (go) to build $(MINIO_MODULE)"; exit 1; }
	@echo "minio: building $(MINIO_MODULE) into $(@D)"
	@mkdir -p $(@D); \
	( while sleep 15; do echo "minio: still building ($$SECONDS s)"; done ) & ticker=$$!; \
	GOBIN=$(abspath $(@D)) timeout 1200 go install $(MINIO_MODULE); rc=$$?; \
	kill $$ticker 2>/dev/null; \
	if [ $$rc -ne 0 ]; then echo "minio: build failed (exit $$rc)"; exit $$rc; fi; \
	echo "minio: built $@"

up: deps venv kafka-jars minio
	$(BIN)/coelho up

down: venv
	$(BIN)/coelho down

test: deps venv kafka-jars minio
	$(BIN)/pytest

bench: deps venv kafka-jars minio
	$(BIN)/python -m tests.bench

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

-include k3d/targets.mk
