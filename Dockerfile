# The production image: web (gunicorn), Celery worker and Celery beat all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PARLEY_VAR_DIR=/app/var
WORKDIR /app

COPY pyproject.toml ./
RUN pip install --upgrade pip && pip install -e . && useradd --create-home --uid 1000 parley
COPY . .
RUN python -c "import pathlib, polib; [polib.pofile(str(p)).save_as_mofile(str(p.with_suffix('.mo'))) for p in pathlib.Path('locale').glob('*/LC_MESSAGES/django.po')]" \
 && DJANGO_ENV=production DEBUG=0 SECRET_KEY=build-only-not-secret-build-only-not-secret-build-only \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/var/media && chown -R parley /app/var

USER parley
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
