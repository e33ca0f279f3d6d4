"""config/settings.py takes every knob from the environment; production refuses unsafe defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 20 + "0123456789abcdefghijklmnopqrstuvwxyz"
SAFE_ENV = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}


def run(code: str, **env):
    environment = {**SAFE_ENV, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_value(expression: str, **env) -> str:
    result = run(f"from django.conf import settings as s; print({expression})", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_embedded_defaults_need_no_service(tmp_path):
    env = {"PARLEY_VAR_DIR": str(tmp_path)}
    assert settings_value("s.DATABASES['default']['ENGINE']", **env) == "django.db.backends.sqlite3"
    assert settings_value("s.CELERY_TASK_ALWAYS_EAGER", **env) == "True"
    # Scheduled work without Redis: beat and a worker talk through files under var/celery/.
    assert settings_value("s.CELERY_BROKER_URL", **env) == "filesystem://"
    assert settings_value("s.CELERY_BROKER_TRANSPORT_OPTIONS['data_folder_in']", **env) == str(
        tmp_path / "celery" / "queue"
    )
    assert settings_value("s.EMAIL_BACKEND", **env).endswith("filebased.EmailBackend")
    assert settings_value("s.EMAIL_FILE_PATH", **env) == str(tmp_path / "mail")
    assert settings_value("s.STORAGES['default']['BACKEND']", **env).endswith("FileSystemStorage")
    assert settings_value("s.CACHES['default']['BACKEND']", **env).endswith("LocMemCache")


def test_services_are_selected_by_the_environment():
    env = {
        "DATABASE_URL": "postgres://u:p@db.example:5432/parley",
        "REDIS_URL": "redis://cache.example:6379/0",
        "AWS_STORAGE_BUCKET_NAME": "parley-files",
    }
    assert settings_value("s.DATABASES['default']['ENGINE']", **env) == "django.db.backends.postgresql"
    assert settings_value("s.DATABASES['default']['HOST']", **env) == "db.example"
    assert settings_value("s.CELERY_BROKER_URL", **env) == "redis://cache.example:6379/0"
    assert settings_value("s.CELERY_TASK_ALWAYS_EAGER", **env) == "False"
    assert settings_value("s.CACHES['default']['BACKEND']", **env).endswith("RedisCache")
    assert settings_value("s.STORAGES['default']['BACKEND']", **env) == "storages.backends.s3.S3Storage"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": GOOD_KEY, "DEBUG": "1"}, "DEBUG on"),
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
    ],
)
def test_production_refuses_unsafe_defaults(env, message):
    result = run(
        "from django.conf import settings; settings.DEBUG",
        DJANGO_ENV="production",
        ALLOWED_HOSTS="parley.example",
        **env,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_check_deploy_is_clean_in_production(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **SAFE_ENV,
            "DJANGO_ENV": "production",
            "SECRET_KEY": GOOD_KEY,
            "ALLOWED_HOSTS": "parley.example",
            "PARLEY_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
