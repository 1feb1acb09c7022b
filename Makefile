# The front door. A newcomer needs two targets: `make run` and `make test`.
PYTHON ?= python3.13
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# SAM CLI and translator get their own environment: they require pydantic < 2.14, which the
# functions' pin excludes (requirements-sam.txt). `sam build` finds python3.13 there too.
SAM_VENV  := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM       := PATH="$(CURDIR)/$(SAM_VENV)/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
# checkov gets its own environment too: it pins boto3 1.35, below the functions' pin.
CHECKOV_VENV  := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: run invoke tail test unit e2e e2e-deps lint typecheck validate clean redrive redrive-local quarantine quarantine-local sam-tools build deploy bench load scan audit

$(STAMP): requirements-dev.txt layers/edge/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

$(SAM_STAMP): requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $(SAM_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

## The SAM CLI and translator in .venv-sam (validate, build, deploy and the template tests use them).
sam-tools: $(SAM_STAMP)

## The whole pipeline locally: API on 127.0.0.1:3000, embedded SQS + Secrets Manager,
## forwarder, and an upstream stand-in on 127.0.0.1:3001. Ctrl-C stops it.
run: $(STAMP)
	$(BIN)/python -m edge_local

## One function once on a sample event, like `sam local invoke` without Docker:
##   make invoke FUNCTION=ingest EVENT=events/apigw-track.json
invoke: $(STAMP)
	$(BIN)/python -m edge_local.invoke $(FUNCTION) $(EVENT)

## Every check: lint, types, template, IaC scan, dependency audit, and the whole test suite
## (unit, integration, e2e). Where PyPI's vulnerability data cannot be had, audit warns, loudly.
test: AUDIT_FLAGS := --allow-unaudited
test: lint typecheck validate scan audit e2e-deps
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

## The figures of docs/performance.md against their budgets: a table, never a failure on a slow
## machine (exit 1 only if the benchmark itself breaks). A few minutes; loopback only.
bench: $(STAMP)
	$(BIN)/python -m bench

## 100,000 events from 50 clients through the local stack; `make load FAULTS=1` adds the fault
## schedule (upstream outages, SQS unreachable from ingest, the forwarder killed). Exit 1 if an
## acknowledged event is lost. A few minutes; loopback only. Figures: docs/reliability.md.
load: $(STAMP)
	$(BIN)/python -m loadtest $(if $(filter 1 yes true,$(FAULTS)),--faults)

## checkov on template.yaml: no failed check without an inline, reasoned suppression.
scan: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

## pip-audit over the pinned requirements; exit 2 when PyPI's vulnerability data could not be had.
audit: $(STAMP)
	$(BIN)/python scripts/audit.py layers/edge/requirements.txt requirements-dev.txt $(AUDIT_FLAGS)

## The template: cfn-lint, SAM's own validation and lint, and a Docker-free `sam build` (arm64 layer).
validate: $(STAMP) $(SAM_STAMP)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint
	$(SAM) build
	@ls .aws-sam/build/EdgeLayer/python/pydantic_core/*aarch64-linux-gnu.so >/dev/null \
		|| { echo "sam build did not package the layer for arm64" >&2; exit 1; }
	@ls .aws-sam/build/EdgeLayer/python/edge/__pycache__/*.cpython-313.pyc >/dev/null \
		|| { echo "sam build did not compile the layer's bytecode" >&2; exit 1; }

## `sam build` into .aws-sam/, then `sam deploy` with samconfig.toml's defaults (AWS credentials needed).
build: $(SAM_STAMP)
	$(SAM) build

deploy: build
	$(SAM) deploy

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam

## A deployed stack's outcomes, live (CloudWatch Logs Live Tail): one line per request and per
## forwarder invocation: make tail STACK=metarouter-edge. The local stack has a page: make run.
tail: $(STAMP)
	$(BIN)/python -m edge_ops.tail --stack $(STACK)

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
