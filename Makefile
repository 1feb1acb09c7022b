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

.PHONY: run invoke tail test unit e2e e2e-deps lint typecheck validate clean redrive redrive-local quarantine quarantine-local sam-tools build deploy lock prune-versions capacity bench bench-gzip load scan audit mutants

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

## Mutation testing of the domain layer (mutmut; the unit and integration tests): the score per
## module and every mutant no test kills. Slow (2 to 3 hours on 2 cores: ingestion's mutants each run
## the ~160 handler tests), so not part of `make test`. MUTANTS re-runs only those (names or globs),
## keeping the other verdicts; RESUME=1 goes on with an interrupted run:
##   make mutants [MUTANTS="edge.forward.upstream.* edge.ingest.enrichment.x_enrich__mutmut_7"] [RESUME=1] [CHILDREN=2]
mutants: $(STAMP)
	$(BIN)/python scripts/mutants.py --max-children $(or $(CHILDREN),2) \
		$(if $(filter 1 yes true,$(RESUME)),--resume) $(MUTANTS)

## The figures of docs/performance.md against their budgets: a table, never a failure on a slow
## machine (exit 1 only if the benchmark itself breaks). A few minutes; loopback only.
bench: $(STAMP)
	$(BIN)/python -m bench

## UPSTREAM_GZIP measured both ways: bytes per event on the wire, forwarder events/s (loopback).
bench-gzip: $(STAMP)
	$(BIN)/python -m bench.upstream_gzip 2>/dev/null

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

## The template: cfn-lint, SAM's own validation and lint, what CloudFormation receives (the
## transformed template for every parameter set that changes it: cfn-lint and dependency cycles),
## a Docker-free `sam build` (arm64 layer), and the built layer against layers/edge/requirements.lock.
validate: $(STAMP) $(SAM_STAMP)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint
	$(SAM_VENV)/bin/python scripts/check_template.py
	$(BIN)/python scripts/check_lock.py layers/edge/requirements.txt layers/edge/requirements.lock
	$(SAM) build
	$(BIN)/python scripts/check_lock.py layers/edge/requirements.txt layers/edge/requirements.lock \
		--layer .aws-sam/build/EdgeLayer/python
	@ls .aws-sam/build/EdgeLayer/python/pydantic_core/*aarch64-linux-gnu.so >/dev/null \
		|| { echo "sam build did not package the layer for arm64" >&2; exit 1; }
	@for folder in edge edge/core edge/ingest edge/forward; do \
		ls .aws-sam/build/EdgeLayer/python/$$folder/__pycache__/*.cpython-313.pyc >/dev/null \
			|| { echo "sam build did not compile the layer's bytecode ($$folder)" >&2; exit 1; }; \
	done

## Re-lock the layer after changing layers/edge/requirements.txt: every runtime package, transitive
## ones included, pinned with hashes for Lambda's platform (python3.13, manylinux aarch64).
lock: $(STAMP)
	cd layers/edge && ../../$(BIN)/uv pip compile requirements.txt --quiet --python-version 3.13 \
		--python-platform aarch64-manylinux2014 --only-binary :all: --generate-hashes -o requirements.lock

## `sam build` into .aws-sam/; `make deploy` then runs `sam deploy` with samconfig.toml (AWS credentials needed).
build: $(SAM_STAMP)
	$(SAM) build

## `make deploy PARAMS="IpPolicy=anonymize AlarmEmail=ops@example.com"` overrides parameters;
## CONFIRM=no skips the change-set prompt (CI). No --guided needed: samconfig.toml has the rest.
deploy: build
	$(SAM) deploy $(if $(PARAMS),--parameter-overrides $(PARAMS)) $(if $(filter no,$(CONFIRM)),--no-confirm-changeset)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .mutmut .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam

## Delete the published versions no alias uses (each SnapStart version bills its snapshot):
##   make prune-versions STACK=metarouter-edge [KEEP=1] [DRY_RUN=1]
prune-versions: $(STAMP)
	$(BIN)/python -m edge_ops.prune_versions --stack $(STACK) --keep $(or $(KEEP),0) $(if $(filter 1 yes true,$(DRY_RUN)),--dry-run)

## Concurrency, binding quotas and the bill for a traffic level (docs/scaling.md):
##   make capacity RPS=5000 EVENTS_PER_REQUEST=1 [ARGS="--upstream-ms 250 --gzip"]
##   make capacity RPS=44 EVENTS_PER_REQUEST=48.7 LOCAL=1 [ARGS="--cores 1 --cpu-ms-per-request 24.6"]
capacity: $(STAMP)
	$(BIN)/python -m edge_ops.capacity --rps $(RPS) --events-per-request $(or $(EVENTS_PER_REQUEST),1) \
		$(if $(filter 1 yes true,$(LOCAL)),--local) $(ARGS)
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
