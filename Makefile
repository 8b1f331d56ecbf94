# Everything runs offline: no AWS account, Docker or Pulumi CLI needed for these targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STACK  ?= dev

.PHONY: test lint plan venv clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## lint, then the unit tests (all under Pulumi mocks)
test: venv lint
	$(PY) -m pytest -q

lint: venv
	$(VENV)/bin/ruff check .

## the offline plan of one stack: make plan STACK=prod [JSON=plan.json]
plan: venv
	$(PY) -m tools.plan --stack $(STACK) $(if $(JSON),--json $(JSON),)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
