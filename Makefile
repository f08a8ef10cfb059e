# Two entry points for a newcomer: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi
# pytest-xdist: one worker a core (each has its own database, Redis number and tmp dirs;
# see tests/conftest.py). TEST_WORKERS=0 runs the suite in this one process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

.PHONY: run test test-fast lint install assets

run: install
	$(BIN)/flask db-upgrade
	DEV_SIGN_IN=$${DEV_SIGN_IN:-1} $(BIN)/flask run --host 127.0.0.1 --port 5000

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)

test-fast: install  # the tests not marked slow: for a quick check while you work
	$(BIN)/python -m pytest $(XDIST) -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

install: $(VENV)/.installed app/static/build/app.css playground/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Microsoft 365 Agents Playground, the Teams-like client tests/playground drives
# (docs/teams-playground.md); pinned in its own package so the assets build stays small.
playground/node_modules/.installed: playground/package.json playground/package-lock.json
	cd playground && npm ci --no-audit --no-fund --loglevel=error
	touch $@

app/static/build/app.css: node_modules/.installed app/assets/app.scss scripts/build-assets.mjs
	npm run --silent build
