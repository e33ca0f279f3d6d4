import re

import pytest
from django.core import mail
from django.urls import reverse

from tenants.models import AuditLogEntry, Membership, Organization
from tests.factories import PASSWORD, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def _login(client, email, password=PASSWORD):
    return client.post(reverse("login"), {"username": email, "password": password})


class TestSignIn:
    def test_signs_in_and_lands_on_the_organization_home(self, client, buyer_admin, buyer):
        response = _login(client, buyer_admin.email)
        assert response.status_code == 302
        response = client.get(response.url, follow=True)
        assert response.redirect_chain[-1][0] == f"/o/{buyer.slug}/"
        assert buyer.name in response.content.decode()

    def test_email_is_case_insensitive(self, client, buyer_admin):
        assert _login(client, buyer_admin.email.upper()).status_code == 302

    def test_wrong_password_gets_a_generic_message(self, client, buyer_admin):
        for email in (buyer_admin.email, "nobody@example.com"):
            response = _login(client, email, "wrong password")
            assert response.status_code == 200
            assert "do not match an account" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_repeated_failures_lock_that_username_and_ip(self, client, buyer_admin, settings):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            _login(client, buyer_admin.email, "wrong password")
        response = _login(client, buyer_admin.email)  # even the right password is refused now
        assert response.status_code == 429
        assert "Too many failed sign-ins" in response.content.decode()
        assert "_auth_user_id" not in client.session
        # Another address from the same IP is not locked: the lock is per username and IP.
        other = UserFactory()
        MembershipFactory(user=other)
        assert _login(client, other.email).status_code == 302

    def test_sign_out_needs_a_post(self, client, buyer_admin):
        client.force_login(buyer_admin)
        assert client.get(reverse("logout")).status_code == 405
        response = client.post(reverse("logout"))
        assert response.status_code == 302
        assert "_auth_user_id" not in client.session

    def test_user_without_organization_is_told_so(self, client):
        client.force_login(UserFactory())
        response = client.get(reverse("home"))
        assert response.status_code == 200
        assert "You do not belong to an organization yet" in response.content.decode()


class TestPasswordReset:
    def test_reset_email_arrives_and_the_link_sets_a_new_password(
        self, client, buyer_admin, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("password_reset"), {"email": buyer_admin.email})
        assert response.status_code == 302
        assert len(mail.outbox) == 1
        message = mail.outbox[0]
        assert message.to == [buyer_admin.email]
        assert "Reset your Parley password" in message.subject
        assert message.alternatives and message.alternatives[0][1] == "text/html"
        link = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)
        response = client.get(link, follow=True)
        form_url = response.redirect_chain[-1][0]
        response = client.post(
            form_url,
            {"new_password1": "a new Secret 4 parley", "new_password2": "a new Secret 4 parley"},
        )
        assert response.status_code == 302
        client.logout()
        assert _login(client, buyer_admin.email, "a new Secret 4 parley").status_code == 302

    def test_reset_email_is_in_the_users_language(
        self, client, buyer_admin, django_capture_on_commit_callbacks
    ):
        buyer_admin.language = "de"
        buyer_admin.save()
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse("password_reset"), {"email": buyer_admin.email})
        assert "Parley-Passwort" in mail.outbox[0].subject

    def test_unknown_address_gets_the_same_answer_and_no_email(
        self, client, db, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
        assert callbacks == []
        assert response.status_code == 302
        assert response.url == reverse("password_reset_done")
        assert mail.outbox == []

    def test_used_link_is_refused_clearly(self, client, buyer_admin):
        response = client.get(reverse("password_reset_confirm", args=["MQ", "bad-token"]))
        assert "This link has expired or was already used" in response.content.decode()


class TestOrganizationSwitching:
    def test_switcher_lists_every_organization_and_each_tab_keeps_its_own(self, client, buyer, supplier):
        user = UserFactory()
        MembershipFactory(user=user, organization=buyer, role=Membership.Role.ADMINISTRATOR)
        MembershipFactory(user=user, organization=supplier)
        client.force_login(user)
        page = client.get(reverse("tenants:home", kwargs={"org_slug": buyer.slug})).content.decode()
        assert f'href="/o/{supplier.slug}/"' in page
        assert f'href="/o/{buyer.slug}/"' in page
        other = client.get(reverse("tenants:home", kwargs={"org_slug": supplier.slug}))
        assert other.context["organization"] == supplier
        assert other.context["membership"].role == Membership.Role.MEMBER
        # The last organization used is where "/" lands next time.
        assert client.get(reverse("home")).url == f"/o/{supplier.slug}/"

    def test_unknown_or_foreign_slug_is_404(self, client, buyer_admin, supplier):
        client.force_login(buyer_admin)
        assert client.get("/o/does-not-exist/").status_code == 404
        assert client.get(f"/o/{supplier.slug}/").status_code == 404


class TestSettings:
    def url(self, organization):
        return reverse("tenants:settings", kwargs={"org_slug": organization.slug})

    def test_administrator_edits_contact_information_and_messaging(self, client, buyer, buyer_admin):
        client.force_login(buyer_admin)
        response = client.post(
            self.url(buyer),
            {
                "contact_email": "purchasing@nordwind.example",
                "contact_phone": "+49 30 1234567",
                "address": "Hafenstraße 1\n20457 Hamburg",
                "hide_contact_info": "on",
                "default_language": "de",
                # messaging_enabled unticked: turned off
            },
        )
        assert response.status_code == 302
        buyer.refresh_from_db()
        assert buyer.contact_email == "purchasing@nordwind.example"
        assert buyer.hide_contact_info is True
        assert buyer.messaging_enabled is False
        assert buyer.default_language == "de"
        entry = AuditLogEntry.objects.get(action="organization.settings_changed")
        assert "messaging_enabled" in entry.data["fields"]
        assert "Settings saved." in client.get(self.url(buyer)).content.decode()

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("contact_email", "not-an-email", "Enter a valid email address."),
            ("contact_phone", "call me maybe", "Enter a phone number of 6 to 15 digits"),
            ("contact_phone", "+1 23", "Enter a phone number of 6 to 15 digits"),
            ("contact_phone", "+49 30 1234567890123456", "Enter a phone number of 6 to 15 digits"),
            ("default_language", "xx", "Select a valid choice."),
        ],
    )
    def test_invalid_input_shows_next_to_the_field_and_saves_nothing(
        self, client, buyer, buyer_admin, field, value, message
    ):
        client.force_login(buyer_admin)
        before = Organization.objects.values().get(pk=buyer.pk)
        data = {
            "contact_email": "ok@example.com",
            "default_language": "en",
            "messaging_enabled": "on",
        }
        data[field] = value
        response = client.post(self.url(buyer), data)
        assert response.status_code == 200
        html = response.content.decode()
        assert message in html
        assert f'id="id_{field}_error"' in html  # the error is tied to its field
        assert Organization.objects.values().get(pk=buyer.pk) == before

    def test_member_sees_settings_read_only(self, client, buyer, buyer_member):
        client.force_login(buyer_member)
        html = client.get(self.url(buyer)).content.decode()
        assert "Only administrators of this organization can change its settings." in html
        assert 'name="contact_email"' in html and "disabled" in html
        assert "Save settings" not in html

    def test_member_posting_anyway_gets_403_and_nothing_changes(self, client, buyer, buyer_member):
        client.force_login(buyer_member)
        response = client.post(self.url(buyer), {"contact_email": "x@example.com", "default_language": "en"})
        assert response.status_code == 403
        assert "Only administrators" in response.content.decode()
        buyer.refresh_from_db()
        assert buyer.contact_email != "x@example.com"

    def test_only_buyers_have_the_messaging_switch(self, client, supplier, supplier_admin):
        client.force_login(supplier_admin)
        assert "messaging_enabled" not in client.get(self.url(supplier)).content.decode()
        client.post(self.url(supplier), {"contact_email": "a@example.com", "default_language": "en"})
        supplier.refresh_from_db()
        assert supplier.messaging_enabled is True


class TestLanguage:
    @pytest.mark.parametrize(
        ("code", "word"),
        [("de", "Dokumente"), ("pl", "Dokumenty"), ("pt-br", "Documentos"), ("fi", "Asiakirjat")],
    )
    def test_choice_is_remembered_for_the_user(self, client, buyer, buyer_admin, code, word):
        client.force_login(buyer_admin)
        home = reverse("tenants:home", kwargs={"org_slug": buyer.slug})
        response = client.post(reverse("set_language"), {"language": code, "next": home})
        assert response.url == home
        buyer_admin.refresh_from_db()
        assert buyer_admin.language == code
        # A new session without the cookie still gets the user's language.
        client.logout()
        client.cookies.clear()
        client.force_login(buyer_admin)
        html = client.get(home).content.decode()
        assert word in html
        assert f'<html lang="{code}">' in html

    def test_anonymous_choice_lives_in_a_cookie(self, client, db):
        client.post(reverse("set_language"), {"language": "fi", "next": "/accounts/login/"})
        assert "Kirjaudu" in client.get(reverse("login")).content.decode()

    def test_unknown_language_and_foreign_next_are_refused(self, client, buyer_admin):
        client.force_login(buyer_admin)
        response = client.post(reverse("set_language"), {"language": "xx", "next": "https://evil.example/"})
        assert response.url == "/"
        buyer_admin.refresh_from_db()
        assert buyer_admin.language == ""


def test_outsider_cannot_see_members_of_another_organization(client, buyer, outsider):
    client.force_login(outsider)
    assert client.get(f"/o/{buyer.slug}/settings/").status_code == 404


def test_the_home_page_names_tier_and_messaging(client, supplier, supplier_member):
    client.force_login(supplier_member)
    html = client.get(f"/o/{supplier.slug}/").content.decode()
    assert "Enterprise" in html
    standard = OrganizationFactory(kind="supplier", tier="standard")
    MembershipFactory(user=supplier_member, organization=standard)
    assert "Standard" in client.get(f"/o/{standard.slug}/").content.decode()


class TestCsrf:
    def test_post_without_token_is_refused(self, buyer, buyer_admin):
        from django.test import Client

        client = Client(enforce_csrf_checks=True)
        client.force_login(buyer_admin)
        url = reverse("tenants:settings", kwargs={"org_slug": buyer.slug})
        response = client.post(url, {"contact_email": "x@example.com", "default_language": "en"})
        assert response.status_code == 403
        assert "This form has expired" in response.content.decode()
        buyer.refresh_from_db()
        assert buyer.contact_email != "x@example.com"

    def test_htmx_sends_the_token_from_the_page_in_a_header(self, buyer, buyer_admin):
        from django.test import Client

        client = Client(enforce_csrf_checks=True)
        client.force_login(buyer_admin)
        url = reverse("tenants:settings", kwargs={"org_slug": buyer.slug})
        page = client.get(url).content.decode()
        token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
        response = client.post(
            url,
            {"contact_email": "x@example.com", "default_language": "en"},
            headers={"HX-Request": "true", "X-CSRFToken": token},
        )
        assert response.status_code == 302
        buyer.refresh_from_db()
        assert buyer.contact_email == "x@example.com"
