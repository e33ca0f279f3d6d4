import pytest
from django.core.management import call_command
from django.urls import reverse

from documents.models import Document
from tenants.models import Membership, Organization, User

pytestmark = pytest.mark.django_db


def snapshot():
    return {
        model.__name__: sorted(map(repr, model.objects.values()))
        for model in (Organization, User, Membership, Document)
    }


def test_seed_demo_is_idempotent():
    call_command("seed_demo", verbosity=0)
    first = snapshot()
    call_command("seed_demo", verbosity=0)
    assert snapshot() == first


def test_demo_covers_what_the_readme_promises(client):
    call_command("seed_demo", verbosity=0)
    kinds = Organization.objects.values_list("kind", flat=True)
    for kind in Organization.Kind.values:
        assert list(kinds).count(kind) >= 2, kind
    suppliers = Organization.objects.filter(kind="supplier")
    assert {s.tier for s in suppliers} == {"standard", "enterprise"}
    for organization in Organization.objects.all():
        roles = set(organization.memberships.values_list("role", flat=True))
        assert roles == {"administrator", "member"}, organization
    assert Document.objects.filter(kind="purchase_order").exists()
    assert Document.objects.filter(kind="invoice").exists()
    assert User.objects.filter(is_superuser=True).count() == 1
    # The README's logins work.
    for email in (
        "admin@acme.example",
        "member@aurora.example",
        "sam@parley.example",
        "admin@parley.example",
    ):
        response = client.post(reverse("login"), {"username": email, "password": "parley-demo"})
        assert response.status_code == 302, email
    assert User.objects.get(email="sam@parley.example").memberships.count() == 3
