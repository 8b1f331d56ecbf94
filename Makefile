# Everything runs offline: no AWS account, Docker or Pulumi CLI needed for these targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STACK  ?= dev

.PHONY: test lint plan upgrade-plan plan-diff plan-delta bench venv clean doctor up down integration upstream sweep

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## lint, then the unit tests (all under Pulumi mocks)
test: venv lint
	$(PY) -m pytest -q

## ruff, and the import contracts of .importlinter (layers, independent add-ons): a new cycle fails here
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

## the offline plan of one stack, with its cost and deploy-time estimate: make plan STACK=prod [JSON=plan.json] [MD=plan.md] [CONFIG_JSON=<pulumi config --show-secrets --json output>]
plan: venv
	$(PY) -m tools.plan --stack $(STACK) $(if $(CONFIG_JSON),--config-json $(CONFIG_JSON),) $(if $(JSON),--json $(JSON),) $(if $(MD),--markdown $(MD),)

## what moving a stack to the next Kubernetes minor involves, offline: make upgrade-plan STACK=dev TO=1.36 [JSON=up.json]
upgrade-plan: venv
	@test -n "$(TO)" || { echo "usage: make upgrade-plan STACK=<stack> TO=<next minor>"; exit 2; }
	$(PY) -m tools.upgrade_plan --stack $(STACK) --to $(TO) $(if $(JSON),--json $(JSON),)

## what differs between two stacks: make plan-diff A=dev B=prod [JSON=diff.json] [MD=diff.md]
plan-diff: venv
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make plan-diff A=<stack> B=<stack>"; exit 2; }
	$(PY) -m tools.plan_diff $(A) $(B) $(if $(JSON),--json $(JSON),) $(if $(MD),--markdown $(MD),)

## what a change does to a stack's plan against a base commit (cost, deploy path, resources, policy), both evaluated offline:
## make plan-delta BASE=origin/main STACK=dev [JSON=delta.json] [MD=delta.md] [HEAD_JSON=plan.json] [BASE_JSON=base.json]
##   [FAIL_ABOVE_PERCENT=10] [FAIL_ABOVE_USD=20] [ACCEPTED=true]   (exit 1 on a rise above a threshold, unless ACCEPTED)
plan-delta: venv
	@test -n "$(BASE)$(BASE_JSON)" || { echo "usage: make plan-delta BASE=<commit> STACK=<stack> (or BASE_JSON=<plan.json>)"; exit 2; }
	$(PY) -m tools.plan_delta $(if $(BASE_JSON),--base-json $(BASE_JSON),--base $(BASE)) --stack $(STACK) \
		$(if $(HEAD_JSON),--head-json $(HEAD_JSON),) $(if $(JSON),--json $(JSON),) $(if $(MD),--markdown $(MD),) \
		$(if $(FAIL_ABOVE_PERCENT),--fail-above-percent $(FAIL_ABOVE_PERCENT),) \
		$(if $(FAIL_ABOVE_USD),--fail-above-usd $(FAIL_ABOVE_USD),) $(if $(filter true,$(ACCEPTED)),--accepted,)

## after a destroy: what the cluster made outside Pulumi's state (your AWS credentials): make sweep STACK=dev [DELETE=true]
sweep: venv
	$(PY) -m tools.sweep --stack $(STACK) $(if $(filter true,$(DELETE)),--delete,)

## evaluation time per stack, the plan process and the unit suite, measured
bench: venv
	$(PY) -m tools.bench

## fill .upstream-cache/ with the upstream data of upstream.lock.json (needs network; CI uses ../shared/upstream)
upstream: venv
	$(PY) -m tools.fetch_upstream

## the local stack on kind: checks the tools, then up/down with a file backend inside the repository
# A local-only passphrase: the local stack holds no real secret. Set PULUMI_CONFIG_PASSPHRASE to override.
LOCAL_STATE := $(CURDIR)/.pulumi-state
LOCAL_ENV    = PULUMI_BACKEND_URL=file://$(LOCAL_STATE) PULUMI_CONFIG_PASSPHRASE=$${PULUMI_CONFIG_PASSPHRASE-local-only}

doctor: venv
	$(PY) -m tools.doctor

up: doctor
	@test "$(STACK)" = local || { echo "make up is for the kind stack (STACK=local); AWS stacks: see README, 'Deploying for real'"; exit 2; }
	mkdir -p $(LOCAL_STATE)
	$(LOCAL_ENV) pulumi stack select --create $(STACK)
	$(LOCAL_ENV) pulumi up --yes --stack $(STACK)

down: venv
	@test "$(STACK)" = local || { echo "make down is for the kind stack (STACK=local)"; exit 2; }
	$(LOCAL_ENV) pulumi destroy --yes --stack $(STACK)

## the local stack for real, through the Automation API (skips naming what is missing)
integration: venv
	$(PY) -m pytest -m integration tests/integration

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .upstream-cache
