# MLOps with Cloud, Season 2 — the two commands that matter: `make lab` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := services,labs,scale,dev
LAB_PORT ?= 8888

.PHONY: lab install system-deps services-up down data lint build-check test test-fast bench clean help

help:
	@echo "make lab    - install, start the services the labs need, open JupyterLab on labs/"
	@echo "make test   - install everything the tests need, lint, check labs/ is in sync, run all tests"
	@echo "make bench  - benchmarks under bench/ (grading throughput, service start)"

# The venv is (re)installed when the pins change.
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (or use environment.yml)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "pip==26.3"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

# Debian packages (PostgreSQL, Redis, Prometheus, Alertmanager, nginx, git-lfs, podman...) and Kafka's jars.
system-deps:
	bash scripts/install-system-deps.sh
	bash scripts/install-container-deps.sh
	bash scripts/install-lab-deps.sh
	bash scripts/install-sandbox-deps.sh
	$(BIN)/python -m autograder.services.kafka fetch
	bash scripts/install-spark-jars.sh

services-up: install
	$(BIN)/labs up

down:
	-$(BIN)/labs down

data: install
	$(BIN)/labs data build

lab: install system-deps services-up data
	set -a; source .labs/endpoints.env; set +a; \
	$(BIN)/jupyter lab --notebook-dir=labs --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
		$(if $(filter 0,$(shell id -u)),--allow-root)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

build-check: install
	$(BIN)/labs build --check

test: install system-deps
	bash scripts/install-infra-tools.sh
	$(MAKE) lint build-check
	$(BIN)/labs data build
	status=0; $(BIN)/pytest -p no:cacheprovider || status=$$?; $(BIN)/labs down; exit $$status

# Harness tests only: no services, no infra tools (a quick loop for authors).
test-fast: install
	$(BIN)/pytest -p no:cacheprovider tests/harness datasets

bench: install
	$(BIN)/python bench/grade_throughput.py
	$(BIN)/python bench/services_start.py
	$(BIN)/python bench/big_print_memory.py
	$(BIN)/python bench/grade_scale.py

clean: down
	rm -rf .labs
