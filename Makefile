# `make run` serves the embedded default (SQLite + ./audio); `make test` runs the suite.
# Each target sets up what it needs and can be run again safely.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# Slow clients: close idle keep-alive connections after 5 s, answer 503 past 1,000
# connections per worker instead of holding them all, and give requests 30 s on shutdown.
# uvicorn has no timeout for a request's headers: in production a reverse proxy
# (docs/production.md) holds slow clients instead of the workers.
UVICORN_LIMITS := --timeout-keep-alive 5 --limit-concurrency 1000 --timeout-graceful-shutdown 30
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
NODE_DEPS := tests/js/node_modules/.package-lock.json
CHROMIUM := /usr/bin/chromium

.PHONY: run test test-sqlite test-postgres lint docs lock bench clean

# `make run PORT=8080 PODPASS_BASE_URL=http://127.0.0.1:8080`: links in feeds and pages name
# the port the server listens on (a PODPASS_BASE_URL in .env works too).
ifdef PODPASS_BASE_URL
export PODPASS_BASE_URL
endif

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Installs come from the lock files in requirements/ (hash-checked), so a new release
# upstream cannot change what a fresh clone gets; `make lock` recompiles them. `make run`
# needs only the runtime lock; the dev tools come with lint/test/docs/bench. The app itself
# is installed editable, built by the locked setuptools (build.txt). A stamp is redone when
# its lock (or pyproject.toml) changes; `pip check` names a dependency the lock lacks.
$(VENV)/.installed-runtime: requirements/build.txt requirements/runtime.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements/build.txt -r requirements/runtime.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/pip check >/dev/null || { $(BIN)/pip check; echo "The lock lacks a dependency: make lock" >&2; }
	touch $@

$(VENV)/.installed-dev: requirements/dev.txt $(VENV)/.installed-runtime
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@

# uv (not pip-tools): it resolves for the target, Python 3.11 on Linux x86_64, from any
# machine and any Python, and writes every file's hash; it is one wheel with no dependencies.
# Existing pins are kept unless pyproject.toml needs others; `make lock UPGRADE=1` takes the
# newest releases. dev.txt is constrained by runtime.txt, so the two agree on every pin.
LOCK := $(BIN)/uv pip compile --quiet --python-version 3.11 \
	--python-platform x86_64-unknown-linux-gnu --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: $(VENV)/.installed-dev
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(LOCK) - -o requirements/build.txt
	$(LOCK) pyproject.toml -o requirements/runtime.txt
	$(LOCK) pyproject.toml --extra dev -c requirements/runtime.txt -o requirements/dev.txt

# podcast-partytime (the Podcast Index's feed parser) runs in Node for the feed tests.
tests/js/node_modules/.package-lock.json: tests/js/package.json tests/js/package-lock.json
	@command -v npm >/dev/null || { echo "Installing Node.js and npm (Debian packages)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The subscriber page is tested in Debian's Chromium, driven by Playwright (which cannot
# download a browser of its own here).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

.env: | $(VENV)/.installed-runtime
	$(BIN)/podpass init-env

run: $(VENV)/.installed-runtime .env
	$(BIN)/podpass migrate
	$(BIN)/podpass seed
	@grep -q '^PODPASS_ADMIN_KEY=' .env && echo "Admin key: PODPASS_ADMIN_KEY in $(CURDIR)/.env" || true
	@echo "Console: http://$(HOST):$(PORT)/console/ (first owner: .venv/bin/podpass users create --email you@example.com --role owner)"
	$(BIN)/uvicorn --factory app.main:create_app --host $(HOST) --port $(PORT) $(UVICORN_LIMITS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check app tests migrations bench
	$(BIN)/ruff format --check app tests migrations bench
	$(BIN)/mypy app tests bench

test-sqlite: $(VENV)/.installed-dev $(NODE_DEPS) $(CHROMIUM)
	$(BIN)/pytest

# PostgreSQL runs when reachable; CI sets REQUIRE_POSTGRES=1 so it can never be skipped.
test-postgres: $(VENV)/.installed-dev $(NODE_DEPS) $(CHROMIUM)
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(subst +psycopg,,$(PG_TEST_URL))', connect_timeout=3).close()" 2>/dev/null; then \
		PODPASS_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest; \
	elif [ -n "$$REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL is not reachable at $(PG_TEST_URL), and REQUIRE_POSTGRES is set." >&2; exit 1; \
	else \
		echo "PostgreSQL not reachable at $(PG_TEST_URL): skipping the PostgreSQL run."; \
	fi

# The documentation site (docs/, mkdocs.yml) in site/: --strict turns a broken link or anchor
# into a failure (not with --quiet, which hides the warnings it counts). It needs no
# network. NO_MKDOCS_2_WARNING: Material's notice about its successor, at every build.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint docs test-sqlite test-postgres

# Publisher-scale benchmark (about twenty minutes): a table of paths against their floors,
# republish at 2,000 and 20,000 episodes, two workers against one and a worker's memory,
# local files against nginx (installed from Debian if missing), 100,000 subscribers on
# SQLite and PostgreSQL, and the analytics rollup. `make bench QUICK=1` (under two
# minutes), for trying changes: the main table and the local files' rows that have a
# target, from shorter runs; its numbers are rougher.
bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }
	@command -v nginx >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nginx; }
ifdef QUICK
	$(BIN)/python -m bench --quick
	$(BIN)/python -m bench.files --quick
else
	$(BIN)/python -m bench
	$(BIN)/python -m bench.republish --episodes 2000 20000
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.files
	@if $(BIN)/python -c "import psycopg; psycopg.connect('$(subst +psycopg,,$(PG_TEST_URL))', connect_timeout=3).close()" 2>/dev/null; then \
		$(BIN)/python -m bench.publisher $(PG_TEST_URL); \
		$(BIN)/python -m bench.rollup; \
		$(BIN)/python -m bench.rollup $(PG_TEST_URL); \
	else $(BIN)/python -m bench.publisher; $(BIN)/python -m bench.rollup; \
		echo "PostgreSQL not reachable at $(PG_TEST_URL): publisher and rollup on SQLite only."; fi
endif

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site build
