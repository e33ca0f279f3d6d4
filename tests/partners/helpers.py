"""What the partners tests share: how a page is named, who is who, what a response says."""

from html import unescape

from django.urls import reverse

from tenants.models import Membership
from tests.factories import MembershipFactory, UserFactory

HTMX = {"HX-Request": "true"}
ADMINISTRATOR, MEMBER = Membership.Role.ADMINISTRATOR, Membership.Role.MEMBER


def url(name, organization, **kwargs):
    return reverse(f"partners:{name}", kwargs={"org_slug": organization.slug, **kwargs})


def person(organization, role=MEMBER, first_name="Pat", last_name="Person"):
    user = UserFactory(first_name=first_name, last_name=last_name)
    MembershipFactory(user=user, organization=organization, role=role)
    return user


def membership(user):
    return Membership.objects.select_related("organization").get(user=user)


def text(response) -> str:
    return unescape(response.content.decode())
