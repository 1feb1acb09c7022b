# The front door. A newcomer needs two targets: `make run` and `make test`.
PYTHON ?= python3.13
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run invoke test unit e2e e2e-deps lint typecheck validate clean redrive redrive-local quarantine quarantine-local

$(STAMP): requirements-dev.txt layers/edge/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

## The whole pipeline locally: API on 127.0.0.1:3000, embedded SQS + Secrets Manager,
## forwarder, and an upstream stand-in on 127.0.0.1:3001. Ctrl-C stops it.
run: $(STAMP)
	$(BIN)/python -m edge_local

## One function once on a sample event, like `sam local invoke` without Docker:
##   make invoke FUNCTION=ingest EVENT=events/apigw-track.json
invoke: $(STAMP)
	$(BIN)/python -m edge_local.invoke $(FUNCTION) $(EVENT)

## Every check: lint, types, template, and the whole test suite (unit, integration, e2e).
test: lint typecheck validate e2e-deps
	$(BIN)/pytest

## Only the fast unit tests.
unit: $(STAMP)
	$(BIN)/pytest tests/unit

e2e: $(STAMP) e2e-deps
	$(BIN)/pytest tests/e2e

## Node packages and Chromium for the end-to-end tests with real JavaScript clients.
e2e-deps:
	bash scripts/e2e-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

validate: $(STAMP)
	$(BIN)/cfn-lint template.yaml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam

## Move the dead-letter queue back into the events queue: make redrive STACK=metarouter-edge
## (or make redrive-local for the stack `make run` started).
redrive: $(STAMP)
	$(BIN)/python -m edge_ops.redrive --stack $(STACK)

redrive-local: $(STAMP)
	$(BIN)/python -m edge_ops.redrive --local

## What ingest rejected, with reasons: make quarantine STACK=metarouter-edge (or quarantine-local).
quarantine: $(STAMP)
	$(BIN)/python -m edge_ops.quarantine --stack $(STACK)

quarantine-local: $(STAMP)
	$(BIN)/python -m edge_ops.quarantine --local
