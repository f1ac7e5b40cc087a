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
# Knative's own admission code (tests/cluster/admission: a Go program built from Knative
# Serving/Eventing v0.50.0 and func v0.50.1 off the Go module proxy) for
# tests/cluster/test_admission.py, built once into .coelho/bin (about 5 min cold on
# 2 cores, seconds with Go's caches warm). Without Go those tests skip; a failed build fails.
ADMISSION := .coelho/bin/knative-admission
ADMISSION_SRC := $(wildcard tests/cluster/admission/*.go) tests/cluster/admission/go.mod \
                 tests/cluster/admission/go.sum
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# binary:debian-package pairs; a package is installed only when its binary is missing
DEPS := redis-server:redis-server prometheus:prometheus chromium:chromium \
        chromedriver:chromium-driver java:openjdk-17-jre-headless mvn:maven \
        amtool:prometheus-alertmanager shellcheck:shellcheck

.PHONY: help deps venv kafka-jars minio admission up down test bench soak lint format

help:
	@echo "targets: deps venv kafka-jars minio admission up down test bench soak lint format (k3d-* in k3d/targets.mk)"

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

# go build -v names each package it compiles: counted here as progress, every other line
# (downloads aside) is a message and printed as is.
admission: $(ADMISSION)

$(ADMISSION): $(ADMISSION_SRC)
	@if command -v go >/dev/null; then \
		echo "admission: building tests/cluster/admission into $@"; \
		mkdir -p $(@D) && cd tests/cluster/admission && set -o pipefail && SECONDS=0 && \
		go build -v -buildvcs=false -o $(abspath $@) . 2>&1 | awk ' \
			/^go: downloading/ { if (++d % 25 == 0) print "admission: " d " modules downloaded"; fflush(); next } \
			/^[^ #]+$$/ { if (++n % 100 == 0) print "admission: " n " packages compiled"; fflush(); next } \
			{ print; fflush() }' && \
		touch $(abspath $@) && echo "admission: built in $${SECONDS} s"; \
	else echo "admission: no Go toolchain; tests/cluster/test_admission.py skips"; fi

up: deps venv kafka-jars minio
	$(BIN)/coelho up

down: venv
	$(BIN)/coelho down

test: deps venv kafka-jars minio admission
	$(BIN)/pytest

bench: deps venv kafka-jars minio
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
