# Mentor Link. Two commands matter: `make run` (the whole portal with demo data) and `make test` (everything CI runs).
SHELL := /bin/bash
PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export UV_PYTHON := $(shell command -v $(PYTHON))
export UV_LINK_MODE := copy

.PHONY: install browser assets run test lint typecheck pytest migrate seed e2e benchmarks clean

install: $(VENV)/.synced

$(UV):
	@$(PYTHON) scripts/bootstrap_uv.py

# Re-sync only when the lock changes, so `make install` is silent and instant when nothing changed.
$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	@$(UV) sync --frozen --quiet
	@touch $@

# Debian's chromium for the browser tests: installed when missing and this user may install packages, otherwise
# the exact command to run is printed and make stops (scripts/ensure_browser.sh).
browser:
	@bash scripts/ensure_browser.sh

# Production static files (hashed names + manifest, compressed): the same script the Dockerfile runs.
assets: install
	@$(PY) scripts/build_assets.py

run: install
	@$(PY) manage.py run_portal

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

PYTEST_ARGS ?= -n 2

pytest: install browser
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: browser lint typecheck pytest

# The edit-test loop: lint, types and every test but the ones that start worker processes or a browser.
.PHONY: test-fast
test-fast: lint typecheck
	$(VENV)/bin/pytest $(PYTEST_ARGS) -m "not integration and not e2e"

benchmarks: install
	@for script in benchmarks/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf var staticfiles .mypy_cache .ruff_cache
