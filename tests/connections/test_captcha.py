import pytest
from django.urls import reverse
from django.utils import translation

from connections.captcha import captcha_field
from connections.forms import ConnectionRequestForm, sign_selection
from connections.models import ConnectionRequest
from tests.connections.helpers import solve_altcha
from tests.factories import ConnectionRequestFactory

pytestmark = pytest.mark.django_db


def test_altcha_by_default_and_its_texts_follow_the_language():
    from django_altcha import AltchaField

    assert isinstance(captcha_field(), AltchaField)
    with translation.override("de"):
        form = ConnectionRequestForm(supplier_id=1)
        assert "Ich bin kein Roboter" in str(form["captcha"])


def test_recaptcha_when_both_keys_are_set(settings, supplier, supplier_admin, buyer, client, monkeypatch):
    """Google's verification service cannot run here: its answer is the one thing replaced."""
    from django_recaptcha import client as recaptcha_client
    from django_recaptcha.fields import ReCaptchaField

    settings.RECAPTCHA_PUBLIC_KEY = "site-key-for-tests"
    settings.RECAPTCHA_PRIVATE_KEY = "secret-key-for-tests"
    assert isinstance(captcha_field(), ReCaptchaField)
    answers = {"good-token": True, "bad-token": False}
    monkeypatch.setattr(
        recaptcha_client,
        "submit",
        lambda recaptcha_response, private_key, remoteip: recaptcha_client.RecaptchaResponse(
            is_valid=answers[recaptcha_response], extra_data={}, error_codes=[]
        ),
    )
    client.force_login(supplier_admin)
    token = sign_selection(supplier_id=supplier.pk, customer_id=buyer.pk)
    new = reverse("connections:request_new", kwargs={"org_slug": supplier.slug})
    assert "g-recaptcha" in client.get(new, {"customer": token}).content.decode()
    data = {"customer": token, "contact_email": "a@nordwind.example", "confirm": "on"}
    client.post(new, {**data, "g-recaptcha-response": "bad-token"})
    assert not ConnectionRequest.objects.exists()
    assert client.post(new, {**data, "g-recaptcha-response": "good-token"}).status_code == 302
    assert ConnectionRequest.objects.count() == 1


def test_an_expired_challenge_is_refused(supplier, supplier_admin, buyer, client, settings):
    import time_machine

    client.force_login(supplier_admin)
    token = sign_selection(supplier_id=supplier.pk, customer_id=buyer.pk)
    new = reverse("connections:request_new", kwargs={"org_slug": supplier.slug})
    with time_machine.travel("2026-05-01 10:00 +0000", tick=False):
        solution = solve_altcha(client.get(new, {"customer": token}).content.decode())
    with time_machine.travel("2026-05-01 11:00 +0000", tick=False):  # challenges live 20 minutes
        response = client.post(
            new, {"customer": token, "contact_email": "a@x.example", "confirm": "on", "captcha": solution}
        )
    assert "could not be verified" in response.content.decode()
    assert not ConnectionRequest.objects.exists()


ENGLISH_HEADERS = ["Customer", "Actions", "Status", "Email", "Date", "Comments"]


@pytest.mark.parametrize("language", ["en", "de", "pl", "pt-br", "fi"])
def test_the_table_in_every_language(client, supplier, supplier_admin, language):
    import re

    for status in ("pending", "approved", "rejected", "expired"):
        ConnectionRequestFactory(supplier=supplier, status=status, contact_email="")
    supplier_admin.language = language
    supplier_admin.save()
    client.force_login(supplier_admin)
    html = client.get(reverse("connections:requests", kwargs={"org_slug": supplier.slug})).content.decode()
    headers = re.findall(r'<th scope="col">([^<]+)</th>', html)
    with translation.override(language):
        expected = [translation.gettext(h) for h in ENGLISH_HEADERS]
        statuses = [translation.gettext(s) for s in ("Pending", "Approved", "Rejected", "Expired")]
        system = translation.gettext("System initiated")
    assert headers == expected
    if language != "en":
        assert headers != ENGLISH_HEADERS
    for status in statuses:
        assert status in html
    assert f"[{system}]" in html
