"""Parley's settings: one file, every knob from the environment.

The defaults need no service at all (SQLite, files and emails under var/, Celery tasks run in-process), so
`make run` works on a laptop. DATABASE_URL, REDIS_URL, the S3 variables and the email variables switch to the
production shape that docker-compose.yml describes. DJANGO_ENV=production refuses unsafe defaults.
"""

import hashlib
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("PARLEY_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DJANGO_ENV = env("DJANGO_ENV", "development")
PRODUCTION = DJANGO_ENV == "production"

_DEFAULT_SECRET_KEY = "django-insecure-parley-development-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env("SECRET_KEY", _DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", not PRODUCTION)

if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_ENV=production refuses to start with DEBUG on.")
    if SECRET_KEY == _DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs SECRET_KEY set to a random value of 50 characters or more."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "django_htmx",
    "csp",
    "template_partials",
    "axes",
    "django_ratelimit",
    "anymail",
    "django_altcha",
    "django_recaptcha",
    "tenants",
    "documents",
    "connections",
    "messaging",
    "partners",
    "notifications",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header on every response, error and rate-limit pages included.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.UserLanguageMiddleware",
    "tenants.middleware.ActiveOrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Turns tenants.limits' refusal into the "too many requests" page (429).
    "django_ratelimit.middleware.RatelimitMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

if PRODUCTION:
    # gunicorn serves the collected static files through WhiteNoise; runserver and tests use staticfiles.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.tenancy",
            ],
        },
    }
]

FORM_RENDERER = "config.forms.FormRenderer"

# Database: SQLite under var/ unless DATABASE_URL names another (PostgreSQL in production and CI).
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": {"timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: Celery broker and cache when REDIS_URL is set; otherwise tasks run in-process and the cache is local.
REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            # Redis down or hung: a cache that keeps nothing (config.cache), never a failed or hung request.
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", "parley"),
            "OPTIONS": {
                "socket_timeout": env_int("REDIS_TIMEOUT", 1),
                "socket_connect_timeout": env_int("REDIS_TIMEOUT", 1),
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Abuse limits per person (signed out: per IP address), counted in the cache by django-ratelimit
# (tenants.limits): "count/period" with s, m, h or d. Past one, a 429 page says so and nothing is saved.
RATE_LIMITS = {
    "send": env("RATE_LIMIT_SEND", "30/m"),  # messages, requests to partners, matching
    "upload": env("RATE_LIMIT_UPLOAD", "60/h"),  # messages that carry files
    "search": env("RATE_LIMIT_SEARCH", "60/m"),  # inbox and catalogue searches
    "connect": env("RATE_LIMIT_CONNECT", "20/h"),  # connection requests sent
    # Replies by email to one reply address (a person's also count as their "send"); past it the mail server
    # is asked to try again later, nothing is saved.
    "inbound": env("RATE_LIMIT_INBOUND", "20/10m"),
}
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)
# While Redis (the counts' cache) is unreachable nothing is counted, and nobody is refused for it.
RATELIMIT_FAIL_OPEN = True
RATELIMIT_VIEW = "tenants.views.rate_limited"
# Django's own RedisCache increments atomically, though django-ratelimit names only django-redis's.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
if not REDIS_URL:
    # A laptop's cache is per process, so a limit counts per process there; production shares Redis.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# Without Redis, scheduled work still runs: `make run` starts a worker with beat on the filesystem transport.
CELERY_BROKER_URL = REDIS_URL or "filesystem://"
if not REDIS_URL:
    _queue_dir = VAR_DIR / "celery"
    for _folder in ("queue", "processed"):
        (_queue_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
    }
else:
    # A Redis that hangs (stopped, or gone behind a firewall) must not hang the request queuing a task: each
    # call gives up after REDIS_TIMEOUT seconds (redis-py waits forever); the sweeper queues it again.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_timeout": env_int("REDIS_TIMEOUT", 1),
        "socket_connect_timeout": env_int("REDIS_TIMEOUT", 1),
    }
# redis-py reconnects a connection Redis dropped by itself; kombu's retries would only multiply that wait.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 0}
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "parley"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# Scheduled work (Celery beat). `make run` starts beat beside the web server; tasks then run inside beat.
CELERY_BEAT_SCHEDULE = {
    "expire-connection-requests": {
        "task": "connections.tasks.expire_connection_requests",
        "schedule": 60 * 60,
    },
    "sweep-outbox": {
        "task": "notifications.tasks.sweep_outbox",
        "schedule": 60,
    },
    "hourly-digest": {
        "task": "notifications.tasks.send_digests",
        # A minute into the hour: a message written at 13:59:59 and committed a moment later, or stamped by a
        # web server whose clock runs ahead, is already in the 13:00-14:00 digest, not left out of every one.
        "schedule": crontab(minute=1),
    },
    "delete-orphaned-attachments": {
        "task": "messaging.tasks.delete_orphaned_attachments",
        "schedule": crontab(minute=30, hour=3),
    },
}

# Authentication: email is the username; django-axes throttles failed logins per username and IP.
AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24

AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "tenants.views.locked_out"
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "tenants.views.axes_username"
AXES_VERBOSE = False

# Captcha on connection requests: self-hosted ALTCHA by default, reCAPTCHA v2 when both keys are set.
ALTCHA_HMAC_KEY = env("ALTCHA_HMAC_KEY") or hashlib.sha256(f"altcha:{SECRET_KEY}".encode()).hexdigest()
ALTCHA_CHALLENGE_EXPIRE = 20 * 60 * 1000
RECAPTCHA_PUBLIC_KEY = env("RECAPTCHA_PUBLIC_KEY")
RECAPTCHA_PRIVATE_KEY = env("RECAPTCHA_PRIVATE_KEY")

# Languages: the five of the seeds. The user's choice is stored on the user and in a cookie.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("pl", "Polski"),
    ("pt-br", "Português (Brasil)"),
    ("fi", "Suomi"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = env("TIME_ZONE", "UTC")
LANGUAGE_COOKIE_AGE = 60 * 60 * 24 * 365

# Files: local disk under var/ by default, S3 (django-storages) when a bucket is named.
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"
AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env("AWS_S3_REGION_NAME") or None,
            "access_key": env("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env("AWS_SECRET_ACCESS_KEY") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Email: files under var/mail/ by default (one readable file per email); SMTP or django-anymail in production.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
# Links in emails point here.
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Parley <no-reply@parley.localhost>")
# Message-IDs of our emails end in this domain; replies go to reply+<token>@INBOUND_EMAIL_DOMAIN.
EMAIL_DOMAIN = env("EMAIL_DOMAIN", "parley.localhost")
INBOUND_EMAIL_DOMAIN = env("INBOUND_EMAIL_DOMAIN", "reply.parley.localhost")
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8)
# Replies by email: bigger emails are refused (the SMTP server says so before reading them); the port of
# `manage.py run_inbound_smtp`.
INBOUND_MAX_BYTES = env_int("INBOUND_MAX_BYTES", 25 * 1024 * 1024)
INBOUND_SMTP_PORT = env_int("INBOUND_SMTP_PORT", 2525)
# A row left "sending" this long lost its worker; the sweeper tries it again.
OUTBOX_STALE_SECONDS = env_int("OUTBOX_STALE_SECONDS", 600)
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# django-anymail reads provider settings from ANYMAIL_<NAME> variables, e.g. ANYMAIL_POSTMARK_SERVER_TOKEN.
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value for key, value in os.environ.items() if key.startswith("ANYMAIL_")
}
# The inbound webhooks (replies by email) answer only a provider that sends this "user:password" as basic
# auth (ANYMAIL_WEBHOOK_SECRET); without one they are closed, never open to anyone.
ANYMAIL.setdefault("WEBHOOK_SECRET", f"closed:{secrets.token_urlsafe(32)}")

# Security: production turns on every header `manage.py check --deploy` asks for.
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts and styles come only from our own files, never inline, never
# eval'd (htmx is told the same in templates/_base.html). Two allowances, both for the ALTCHA captcha
# (connections.captcha): the hash of the one stylesheet its script puts into <head> (ALTCHA 2.3.0, shipped by
# django-altcha 1.0.0; tests/test_security.py recomputes it from the installed file), and blob: for the Web
# Worker it solves the puzzle in. CSP_REPORT_URI, when set, receives the browsers' violation reports.
ALTCHA_STYLE_HASH = "'sha256-pg+oQARqMq4wCazyrsMt8HY89BJkXkEFkwNWxg2iPdg='"
_csp_directives = {
    "default-src": [SELF],
    "script-src": [SELF],
    "style-src": [SELF, ALTCHA_STYLE_HASH],
    "img-src": [SELF],
    "font-src": [SELF],
    "connect-src": [SELF],
    "worker-src": [SELF, "blob:"],
    "object-src": [NONE],
    "base-uri": [SELF],
    "frame-ancestors": [NONE],
    "form-action": [SELF],
}
if RECAPTCHA_PUBLIC_KEY and RECAPTCHA_PRIVATE_KEY:
    # Google's checkbox loads its script from these paths and draws itself in frames from them.
    _recaptcha = ["https://www.google.com/recaptcha/", "https://www.gstatic.com/recaptcha/"]
    _csp_directives["script-src"] += _recaptcha
    _csp_directives["frame-src"] = [SELF, _recaptcha[0], "https://recaptcha.google.com/recaptcha/"]
if env("CSP_REPORT_URI"):
    _csp_directives["report-uri"] = [env("CSP_REPORT_URI")]
CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp_directives}

MESSAGE_TAGS = {40: "error"}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

PAGE_SIZE = env_int("PAGE_SIZE", 25)
