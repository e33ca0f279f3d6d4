"""docker-compose.yml cannot run here (no Docker engine), so it is kept correct by reading it."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
REQUIRED_VARIABLES = {
    "DJANGO_ENV",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "EMAIL_HOST",
    "EMAIL_PORT",
}


def load():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_production_service_is_there():
    services = load()["services"]
    assert set(services) >= {"postgres", "redis", "web", "worker", "beat", "mailpit"}


def test_app_services_share_one_configuration():
    services = load()["services"]
    environments = [services[name]["environment"] for name in APP_SERVICES]
    for environment in environments:
        assert set(environment) >= REQUIRED_VARIABLES
        assert environment == environments[0]
        assert environment["DJANGO_ENV"] == "production"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in environment["DATABASE_URL"]
        assert environment["REDIS_URL"].startswith("redis://redis:6379")
        assert environment["EMAIL_HOST"] == "mailpit"
    postgres = services["postgres"]["environment"]
    assert f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@" in environments[0]["DATABASE_URL"]
    assert environments[0]["DATABASE_URL"].endswith("/" + postgres["POSTGRES_DB"])


def test_commands_run_the_right_processes():
    services = load()["services"]
    assert "gunicorn config.wsgi:application" in services["web"]["command"]
    assert "migrate" in services["web"]["command"]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "config", "beat"]
    for name in APP_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"


def test_the_worker_listens_on_the_queue_tasks_are_sent_to():
    from django.conf import settings

    services = load()["services"]
    assert settings.CELERY_TASK_DEFAULT_QUEUE in services["worker"]["command"]


def test_dockerfile_builds_what_compose_runs():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11" in dockerfile
    assert "collectstatic" in dockerfile
    assert all(load()["services"][name]["build"] == "." for name in APP_SERVICES)
