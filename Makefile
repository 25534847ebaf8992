# Kaskade: two commands set up a fresh machine.
#   make run    infrastructure + the four services + a demo scenario, with a summary
#   make test   infrastructure + the whole test suite (unit, integration, end-to-end)
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .local/venv
PY := $(VENV)/bin/python
WITH_ENV := set -a && . deploy/local/env.sh && set +a &&

.PHONY: help bootstrap up down reset run services test unit integration e2e bench schemas check-schemas

help:
	@echo "make run | make test | make bench | make up | make down | make reset | make unit | make integration | make e2e | make schemas"

bootstrap:
	@scripts/bootstrap.sh

up: bootstrap
	@deploy/local/up.sh

down:
	@deploy/local/down.sh

# Wipes the local data: Kafka's log and the kaskade database.
reset:
	@deploy/local/kafka.sh reset
	@deploy/local/postgres.sh start && deploy/local/postgres.sh reset

run: up
	@$(WITH_ENV) $(PY) -m kaskade_devtools.demo

services: up
	@$(WITH_ENV) $(PY) -m kaskade_devtools.stack

test: up
	@$(WITH_ENV) $(PY) -m pytest -q

unit: bootstrap
	@$(PY) -m pytest -q -m "not integration and not e2e"

integration: up
	@$(WITH_ENV) $(PY) -m pytest -q -m integration

e2e: up
	@$(WITH_ENV) $(PY) -m pytest -q -m e2e

bench: up
	@scripts/bench-tools.sh
	@$(WITH_ENV) $(PY) -m bench

schemas: bootstrap
	@$(PY) -m kaskade_contracts.schemas

check-schemas: bootstrap
	@$(PY) -m kaskade_contracts.schemas --check
