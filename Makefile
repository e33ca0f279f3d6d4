# The two commands: `make run` and `make test`. Everything else is what they call.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
PO_FILES := $(wildcard locale/*/LC_MESSAGES/django.po)
MO_FILES := $(PO_FILES:.po=.mo)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format install messages makemessages migrate demo clean

# The web server, plus a Celery worker with beat for scheduled work (request expiry, later digests).
# Without REDIS_URL the worker uses kombu's filesystem transport under var/celery/: no service to install.
run: install messages migrate demo
	@echo "Parley at http://$(HOST):$(PORT)/ (demo logins in README.md; emails land in var/mail/)"
	$(PY) -m celery -A config worker --beat --pool solo --loglevel WARNING \
		--schedule var/celerybeat-schedule & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver $(HOST):$(PORT)

test: install messages
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

# Compiled catalogs come from polib, so a fresh machine needs no gettext package (and no root).
messages: install $(MO_FILES)

locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po
	$(PY) -c "import polib, sys; polib.pofile(sys.argv[1]).save_as_mofile(sys.argv[2])" $< $@

# For developers adding strings (needs GNU gettext's xgettext).
makemessages: install
	$(PY) manage.py makemessages --no-obsolete --no-location -l de -l pl -l pt_BR -l fi -i ".venv/*" -i "var/*" -i "tests/*" -i "bench/*"

migrate: install
	$(PY) manage.py migrate --noinput

demo: install
	$(PY) manage.py seed_demo

clean:
	rm -rf $(VENV) var

# Load and scale benchmark (bench/README.md): seeds PostgreSQL at BENCH_SIZE (tiny, small, medium or large; the
# seeded data is reused), serves the app with gunicorn, drives it with locust, writes bench/results/.
# DATABASE_URL counts only on make's command line: an exported one (your development database) is never seeded.
BENCH_SIZE ?= large
BENCH_DATABASE_URL = $(if $(filter command line,$(origin DATABASE_URL)),$(DATABASE_URL),postgres://postgres@127.0.0.1:5432/parley_bench)

.PHONY: bench
bench: install messages
	@stamp=$(VENV)/.bench-installed-$$(sha1sum pyproject.toml | cut -c1-12); \
	test -f $$stamp || { $(PY) -m pip install --quiet -e ".[bench]" && rm -f $(VENV)/.bench-installed-* && touch $$stamp; }
	BENCH_SIZE=$(BENCH_SIZE) DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/seed.py
	BENCH_SIZE=$(BENCH_SIZE) DATABASE_URL=$(BENCH_DATABASE_URL) $(PY) bench/run.py
