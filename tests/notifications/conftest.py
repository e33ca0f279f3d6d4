import pytest

from .smtp import SmtpServer


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback, and the app sending to it over SMTP."""
    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = server.port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_TIMEOUT = 10
        yield server
