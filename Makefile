# The front door. A newcomer needs two targets: `make run` and `make test`; `make help` lists them all.
# Each target's `## ` lines are its help: the first says what it does, `##   make …` lines show
# its variables.
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

.PHONY: help run invoke tail test unit e2e e2e-deps lint typecheck validate clean redrive redrive-local quarantine quarantine-local plan-report plan-report-local replay replay-local sam-tools build deploy lock prune-versions capacity bench bench-gzip load scan audit mutants
.DEFAULT_GOAL := help

# $(call require,TARGET,VARIABLE,EXAMPLE): when TARGET is asked for without VARIABLE, stop before
# anything runs (or is installed), naming the variable and showing a complete command.
require = $(if $(filter $(1),$(MAKECMDGOALS)),$(if $(strip $($(2))),,$(error $(2) is required: $(3))))

## Every target with what it does and the variables it takes (this list).
help:
	@echo 'make <target> [VARIABLE=value ...]; a newcomer needs two: make run, make test.'
	@awk '/^## / { text[++n] = substr($$0, 4); next } \
		/^\$$\(call require/ { next } \
		/^[a-z][a-z0-9-]*:/ && n { \
			printf "  %-17s %s\n", substr($$1, 1, index($$1, ":") - 1), text[1]; \
			for (i = 2; i <= n; i++) if (text[i] ~ /^  make /) printf "  %-17s %s\n", "", text[i]; \
		} \
		{ n = 0 }' $(firstword $(MAKEFILE_LIST))

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

## The whole pipeline locally: API on 127.0.0.1:3000, upstream stand-in on :3001, live page on :3003.
## One process: embedded SQS + Secrets Manager + S3, the gateway, the forwarder, the archive. Ctrl-C stops it.
run: $(STAMP)
	$(BIN)/python -m edge_local

## One function once on a sample event, like `sam local invoke` without Docker.
##   make invoke FUNCTION=ingest EVENT=events/apigw-track.json
$(call require,invoke,FUNCTION,make invoke FUNCTION=<ingest|forward|archive> EVENT=events/<sample>.json)
$(call require,invoke,EVENT,make invoke FUNCTION=<ingest|forward|archive> EVENT=events/<sample>.json)
invoke: $(STAMP)
	$(BIN)/python -m edge_local.invoke $(FUNCTION) $(EVENT)

## Every check: lint, types, template, IaC scan, dependency audit, unit + integration + e2e tests.
## Where PyPI's vulnerability data cannot be had, audit warns, loudly.
test: AUDIT_FLAGS := --allow-unaudited
test: lint typecheck validate scan audit e2e-deps
	$(BIN)/pytest

## Only the fast unit tests.
unit: $(STAMP)
	$(BIN)/pytest tests/unit

## The end-to-end tests: real clients (JavaScript, Python, a browser) against the local stack.
e2e: $(STAMP) e2e-deps
	$(BIN)/pytest tests/e2e

## Node packages and Chromium for the end-to-end tests with real JavaScript clients.
e2e-deps:
	bash scripts/e2e-deps.sh

## ruff: the lint rules, and the formatting checked.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## mypy, strict, on the functions, the layer and the tools.
typecheck: $(STAMP)
	$(BIN)/mypy

## Mutation testing of the domain layer (mutmut): the score per module and the mutants no test kills.
## Runs the unit and integration tests against each mutant. Slow (2 to 3 hours on 2 cores:
## ingestion's mutants each run the ~160 handler tests), so not part of `make test`. MUTANTS
## re-runs only those (names or globs), keeping the other verdicts; RESUME=1 goes on with an
## interrupted run; CHILDREN sets the parallel workers (2):
##   make mutants [MUTANTS="edge.forward.upstream.* edge.ingest.enrichment.x_enrich__mutmut_7"] [RESUME=1] [CHILDREN=2]
mutants: $(STAMP)
	$(BIN)/python scripts/mutants.py --max-children $(or $(CHILDREN),2) \
		$(if $(filter 1 yes true,$(RESUME)),--resume) $(MUTANTS)

## The figures of docs/performance.md against their budgets, in a few minutes; loopback only.
## A table, never a failure on a slow machine (exit 1 only if the benchmark itself breaks).
bench: $(STAMP)
	$(BIN)/python -m bench

## UPSTREAM_GZIP measured both ways: bytes per event on the wire, forwarder events/s (loopback).
bench-gzip: $(STAMP)
	$(BIN)/python -m bench.upstream_gzip 2>/dev/null

## 100,000 events from 50 clients through the local stack; exit 1 if an acknowledged event is lost.
## FAULTS=1 adds the fault schedule (upstream outages, SQS unreachable from ingest, the forwarder
## killed). A few minutes; loopback only. Figures: docs/reliability.md.
##   make load [FAULTS=1]
load: $(STAMP)
	$(BIN)/python -m loadtest $(if $(filter 1 yes true,$(FAULTS)),--faults)

## checkov on template.yaml: no failed check without an inline, reasoned suppression.
scan: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

## pip-audit over the pinned requirements; exit 2 when PyPI's vulnerability data could not be had.
## AUDIT_FLAGS=--allow-unaudited warns instead (`make test` passes it):
##   make audit [AUDIT_FLAGS=--allow-unaudited]
audit: $(STAMP)
	$(BIN)/python scripts/audit.py layers/edge/requirements.txt requirements-dev.txt $(AUDIT_FLAGS)

## The template: cfn-lint, `sam validate --lint`, what CloudFormation receives, a Docker-free `sam build`.
## What CloudFormation receives: the transformed template for every parameter set that changes it,
## linted and checked for dependency cycles. Every tracking plan in functions/ingest/plans/ compiles.
## The built layer holds exactly the distributions of
## layers/edge/requirements.lock, for arm64, with compiled bytecode.
validate: $(STAMP) $(SAM_STAMP)
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint
	$(SAM_VENV)/bin/python scripts/check_template.py
	$(BIN)/python scripts/check_plans.py
	$(BIN)/python scripts/check_lock.py layers/edge/requirements.txt layers/edge/requirements.lock
	$(SAM) build
	$(BIN)/python scripts/check_lock.py layers/edge/requirements.txt layers/edge/requirements.lock \
		--layer .aws-sam/build/EdgeLayer/python
	@ls .aws-sam/build/EdgeLayer/python/pydantic_core/*aarch64-linux-gnu.so >/dev/null \
		|| { echo "sam build did not package the layer for arm64" >&2; exit 1; }
	@ls .aws-sam/build/EdgeLayer/python/jsonschema_rs/*.so >/dev/null \
		&& ls .aws-sam/build/IngestFunction/plans/*.json >/dev/null \
		|| { echo "sam build did not ship the tracking plans' engine or the plans" >&2; exit 1; }
	@for folder in edge edge/core edge/ingest edge/forward edge/archive; do \
		ls .aws-sam/build/EdgeLayer/python/$$folder/__pycache__/*.cpython-313.pyc >/dev/null \
			|| { echo "sam build did not compile the layer's bytecode ($$folder)" >&2; exit 1; }; \
	done

## Re-lock the layer after changing layers/edge/requirements.txt (hashes, for Lambda's arm64).
## Every runtime package, transitive ones included, pinned for python3.13, manylinux aarch64.
lock: $(STAMP)
	cd layers/edge && ../../$(BIN)/uv pip compile requirements.txt --quiet --python-version 3.13 \
		--python-platform aarch64-manylinux_2_28 --only-binary :all: --generate-hashes -o requirements.lock

## `sam build` into .aws-sam/ (the arm64 layer from locked wheels, no Docker).
build: $(SAM_STAMP)
	$(SAM) build

## `sam build` + `sam deploy` with samconfig.toml (AWS credentials needed; no --guided).
## PARAMS overrides parameters; CONFIRM=no skips the change-set prompt (CI); CONFIG_ENV deploys
## another section of samconfig.toml (another environment's stack); REGION names the Region
## (else AWS_DEFAULT_REGION or the profile's):
##   make deploy [PARAMS="IpPolicy=anonymize AlarmEmail=ops@example.com"] [CONFIRM=no] [CONFIG_ENV=staging] [REGION=eu-west-1]
deploy: build
	$(SAM) deploy $(if $(CONFIG_ENV),--config-env $(CONFIG_ENV)) $(if $(REGION),--region $(REGION)) \
		$(if $(PARAMS),--parameter-overrides $(PARAMS)) $(if $(filter no,$(CONFIRM)),--no-confirm-changeset)

## Delete the virtual environments, the tools' caches and .aws-sam/.
clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .mutmut .pytest_cache .mypy_cache .ruff_cache .hypothesis .aws-sam

## Delete the published Lambda versions no alias uses (each SnapStart version bills its snapshot).
##   make prune-versions STACK=metarouter-edge [KEEP=1] [DRY_RUN=1]
$(call require,prune-versions,STACK,make prune-versions STACK=<stack name> [KEEP=1] [DRY_RUN=1])
prune-versions: $(STAMP)
	$(BIN)/python -m edge_ops.prune_versions --stack $(STACK) --keep $(or $(KEEP),0) $(if $(filter 1 yes true,$(DRY_RUN)),--dry-run)

## Concurrency, binding quotas and the monthly bill for a traffic level (docs/scaling.md).
##   make capacity RPS=5000 EVENTS_PER_REQUEST=1 [ARGS="--upstream-ms 250 --gzip"]
##   make capacity RPS=44 EVENTS_PER_REQUEST=48.7 LOCAL=1 [ARGS="--cores 1 --cpu-ms-per-request 24.6"]
$(call require,capacity,RPS,make capacity RPS=<requests per second> [EVENTS_PER_REQUEST=<events per request>])
capacity: $(STAMP)
	$(BIN)/python -m edge_ops.capacity --rps $(RPS) --events-per-request $(or $(EVENTS_PER_REQUEST),1) \
		$(if $(filter 1 yes true,$(LOCAL)),--local) $(ARGS)

## A deployed stack's outcomes, live: one line per request and per forwarder invocation.
## CloudWatch Logs Live Tail; the local stack has a page instead (make run).
##   make tail STACK=metarouter-edge
$(call require,tail,STACK,make tail STACK=<stack name>)
tail: $(STAMP)
	$(BIN)/python -m edge_ops.tail --stack $(STACK)

## Move a deployed stack's dead-letter queue back into its events queue (an SQS message move task).
## BLOCKED=1 moves the events the tracking plan blocked from the quarantine queue to the events queue
## instead (once the plan or the site is fixed); EVENT only the track events of that name:
##   make redrive STACK=metarouter-edge [BLOCKED=1] [EVENT="Order Completed"]
$(call require,redrive,STACK,make redrive STACK=<stack name> [BLOCKED=1] [EVENT="Order Completed"])
redrive: $(STAMP)
	$(BIN)/python -m edge_ops.redrive --stack $(STACK) $(if $(filter 1 yes true,$(BLOCKED)),--blocked) \
		$(if $(EVENT),--event '$(EVENT)')

## Move the local stack's dead-letter queue back into its events queue (the stack `make run` started).
## BLOCKED=1 [EVENT=…]: the events the tracking plan blocked, from its quarantine queue:
##   make redrive-local [BLOCKED=1] [EVENT="Order Completed"]
redrive-local: $(STAMP)
	$(BIN)/python -m edge_ops.redrive --local $(if $(filter 1 yes true,$(BLOCKED)),--blocked) \
		$(if $(EVENT),--event '$(EVENT)')

## Send a deployed stack's archived events of a window to MetaRouter again (original messageIds).
## Through the forwarder (batching, retries, dead letters), paced at RATE events/s (1000), resumable:
## the same command again goes on after an interruption. DRY_RUN=1 counts per day and type.
##   make replay STACK=metarouter-edge FROM=2026-12-01T00:00Z TO=2026-12-02T00:00Z [SOURCE=web] [TYPE=track] [EVENT="Order Completed"] [DRY_RUN=1] [ONLY_UNDELIVERED=1] [RATE=1000]
$(call require,replay,STACK,make replay STACK=<stack name> FROM=<ISO-8601> TO=<ISO-8601>)
$(call require,replay,FROM,make replay STACK=<stack name> FROM=2026-12-01T00:00Z TO=2026-12-02T00:00Z)
$(call require,replay,TO,make replay STACK=<stack name> FROM=2026-12-01T00:00Z TO=2026-12-02T00:00Z)
replay: $(STAMP)
	$(BIN)/python -m edge_ops.replay --stack $(STACK) --from '$(FROM)' --to '$(TO)' $(if $(SOURCE),--source '$(SOURCE)') \
		$(if $(TYPE),--type '$(TYPE)') $(if $(EVENT),--event '$(EVENT)') $(if $(filter 1 yes true,$(DRY_RUN)),--dry-run) \
		$(if $(filter 1 yes true,$(ONLY_UNDELIVERED)),--only-undelivered) $(if $(RATE),--rate $(RATE))

## The same against the local stack (the one `make run` started) and its embedded S3.
##   make replay-local FROM=2026-12-07T09:00Z TO=2026-12-07T10:00Z [SOURCE=…] [TYPE=…] [EVENT=…] [DRY_RUN=1] [ONLY_UNDELIVERED=1] [RATE=…]
$(call require,replay-local,FROM,make replay-local FROM=2026-12-07T09:00Z TO=2026-12-07T10:00Z)
$(call require,replay-local,TO,make replay-local FROM=2026-12-07T09:00Z TO=2026-12-07T10:00Z)
replay-local: $(STAMP)
	$(BIN)/python -m edge_ops.replay --local --from '$(FROM)' --to '$(TO)' $(if $(SOURCE),--source '$(SOURCE)') \
		$(if $(TYPE),--type '$(TYPE)') $(if $(EVENT),--event '$(EVENT)') $(if $(filter 1 yes true,$(DRY_RUN)),--dry-run) \
		$(if $(filter 1 yes true,$(ONLY_UNDELIVERED)),--only-undelivered) $(if $(RATE),--rate $(RATE))

## What ingest rejected on a deployed stack, with the reasons (the quarantine queue).
## Events the tracking plan blocked show their violations; BLOCKED=1 shows only those:
##   make quarantine STACK=metarouter-edge [BLOCKED=1]
$(call require,quarantine,STACK,make quarantine STACK=<stack name> [BLOCKED=1])
quarantine: $(STAMP)
	$(BIN)/python -m edge_ops.quarantine --stack $(STACK) $(if $(filter 1 yes true,$(BLOCKED)),--blocked)

## What ingest rejected on the local stack, with the reasons (the stack `make run` started).
##   make quarantine-local [BLOCKED=1]
quarantine-local: $(STAMP)
	$(BIN)/python -m edge_ops.quarantine --local $(if $(filter 1 yes true,$(BLOCKED)),--blocked)

## The tracking plan's violations on a deployed stack over the last HOURS (24): by event and kind
## (CloudWatch), the top violated paths and the blocked events waiting (the quarantine, only read).
##   make plan-report STACK=metarouter-edge [HOURS=24] [JSON=1]
$(call require,plan-report,STACK,make plan-report STACK=<stack name> [HOURS=24])
plan-report: $(STAMP)
	$(BIN)/python -m edge_ops.plan_report --stack $(STACK) --hours $(or $(HOURS),24) \
		$(if $(filter 1 yes true,$(JSON)),--json)

## The same on the local stack: the metric records of its ingest log, and its quarantine queue.
##   make plan-report-local [HOURS=24] [JSON=1]
plan-report-local: $(STAMP)
	$(BIN)/python -m edge_ops.plan_report --local --hours $(or $(HOURS),24) $(if $(filter 1 yes true,$(JSON)),--json)
