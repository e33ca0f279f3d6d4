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

# Security scanners (#8). bandit: a medium or high finding fails ([tool.bandit] in pyproject.toml says what is
# not scanned). pip-audit: every installed package against PyPI's vulnerability data; a known vulnerability
# fails unless PIP_AUDIT_IGNORE names it, with its reason on a comment line above. A package that could not be
# checked (the service unreachable) fails as NOT AUDITED, never as clean; PIP_AUDIT_UNREACHABLE=warn makes
# that one case a loud warning instead (.ci/run, whose runners may have no network).
PIP_AUDIT_IGNORE :=
PIP_AUDIT_UNREACHABLE ?= fail

.PHONY: audit
audit: install
	$(VENV)/bin/bandit -c pyproject.toml -r . --severity-level medium --quiet
	@out=$$($(VENV)/bin/pip-audit --strict --skip-editable --progress-spinner off \
		$(addprefix --ignore-vuln ,$(PIP_AUDIT_IGNORE)) 2>&1); status=$$?; echo "$$out"; \
	if [ $$status -ne 0 ] && ! echo "$$out" | grep -q "known vulnerabilit"; then \
		echo "pip-audit: NOT AUDITED: the vulnerability data could not be read for the package above."; \
		if [ "$(PIP_AUDIT_UNREACHABLE)" = warn ]; then \
			echo "pip-audit: WARNING: going on WITHOUT a dependency audit (PIP_AUDIT_UNREACHABLE=warn)."; \
			exit 0; \
		fi; \
	fi; \
	exit $$status

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

# Soak (bench/README.md, "Soak"): the bench's seeded database and gunicorn plus a Celery worker and beat on Redis,
# a realistic mix at half of its peak throughput for SOAK_MINUTES; exits non-zero on a server error, growing memory
# or a queue left undrained. BENCH_SIZE and DATABASE_URL count only on make's command line (else small, parley_soak).
SOAK_MINUTES ?= 30
SOAK_SIZE = $(if $(filter command line,$(origin BENCH_SIZE)),$(BENCH_SIZE),small)
SOAK_DATABASE_URL = $(if $(filter command line,$(origin DATABASE_URL)),$(DATABASE_URL),postgres://postgres@127.0.0.1:5432/parley_soak)

.PHONY: soak
soak: install messages
	@stamp=$(VENV)/.bench-installed-$$(sha1sum pyproject.toml | cut -c1-12); \
	test -f $$stamp || { $(PY) -m pip install --quiet -e ".[bench]" && rm -f $(VENV)/.bench-installed-* && touch $$stamp; }
	BENCH_SIZE=$(SOAK_SIZE) DATABASE_URL=$(SOAK_DATABASE_URL) $(PY) bench/seed.py
	SOAK_MINUTES=$(SOAK_MINUTES) BENCH_SIZE=$(SOAK_SIZE) DATABASE_URL=$(SOAK_DATABASE_URL) $(PY) bench/soak.py
