# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv demo clean bench browser screenshots
# Root installs Debian packages directly; anyone else through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Chromium from Debian for the browser tests (Playwright drives it; it downloads no browser of its own).
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

## Set up, migrate a SQLite database under var/, load demo data and demo logins if empty, serve the web UI
## and API on http://127.0.0.1:8000 (Ctrl-C stops it).
run: $(STAMP)
	mkdir -p var
	$(BIN)/iti db upgrade
	$(BIN)/iti demo --if-empty
	$(BIN)/iti tour
	$(BIN)/iti demo-users
	@echo "Open http://127.0.0.1:8000/ui/ (web UI) or http://127.0.0.1:8000/docs (API)"
	$(BIN)/iti serve --host 127.0.0.1 --port 8000

## Set up, lint, and run the whole test suite (SQLite and PostgreSQL).
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

## Refresh the user guides' screenshots from the browser tests (docs/guide/img/).
screenshots: $(STAMP) browser
	$(BIN)/pytest -q -p no:cacheprovider tests/e2e
	mkdir -p docs/guide/img
	cp tests/artifacts/*.png docs/guide/img/

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

## Benchmarks (docs/performance.md); the HTTP part needs wrk, installed from Debian when missing.
bench: $(STAMP)
	command -v wrk >/dev/null 2>&1 || $(SUDO) apt-get install -y wrk
	$(BIN)/python -m bench.run --http

clean:
	rm -rf $(VENV) var/*.db
