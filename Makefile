# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv demo clean bench browser screenshots documents failover-tools db-tools
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

## Pango (WeasyPrint's text layout) and fonts for PDF documents in the six UN languages: Noto for Arabic and
## Chinese, DejaVu as the fallback. Installed from Debian when any is missing.
DOC_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-core fonts-noto-cjk fonts-dejavu-core
documents:
	@dpkg -s $(DOC_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DOC_PACKAGES) >/dev/null; }

## pg_auto_failover (monitor and keeper) from Debian for the automatic-failover test (tests/registry/replicas),
## matching the installed PostgreSQL server's major version.
PG_MAJOR := $(shell ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
failover-tools:
	@command -v pg_autoctl >/dev/null 2>&1 || { $(SUDO) apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq pg-auto-failover-cli \
		postgresql-$(PG_MAJOR)-auto-failover >/dev/null; }

## pg_dump and pg_restore for `iti backup` on PostgreSQL and its tests (Debian's client matching the server).
db-tools:
	@command -v pg_dump >/dev/null 2>&1 || { $(SUDO) apt-get update -qq || true; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql-client >/dev/null; }

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
test: $(STAMP) browser documents failover-tools db-tools
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

## Benchmarks (docs/performance.md); the HTTP part needs wrk, installed from Debian when missing. The fuzzy
## search at national scale on PostgreSQL: see docs/performance.md, "Fuzzy serial search".
bench: $(STAMP)
	command -v wrk >/dev/null 2>&1 || $(SUDO) apt-get install -y wrk
	$(BIN)/python -m bench.run --http
	$(BIN)/python -m bench.fuzzy --db sqlite --size 100000

clean:
	rm -rf $(VENV) var/*.db
