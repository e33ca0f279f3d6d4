"""The partner and the merchant most partners tests talk about (a module may name its own instead)."""

import pytest

from tests.factories import MerchantFactory, StoreFactory, reachable_partner
from tests.partners.helpers import ADMINISTRATOR, MEMBER, person


@pytest.fixture
def partner(db):
    return reachable_partner(name="Pixel Partners Oy", slug="pixel")


@pytest.fixture
def partner_admin(partner):
    return person(partner, ADMINISTRATOR, "Paula", "Partner")


@pytest.fixture
def partner_member(partner):
    return person(partner, MEMBER, "Pekka", "Partner")


@pytest.fixture
def merchant(db):
    return MerchantFactory(name="Kauppa Oy", slug="kauppa")


@pytest.fixture
def merchant_admin(merchant):
    return person(merchant, ADMINISTRATOR, "Aino", "Virtanen")


@pytest.fixture
def merchant_member(merchant):
    return person(merchant, MEMBER, "Mikko", "Member")


@pytest.fixture
def store(merchant, merchant_admin):
    return StoreFactory(
        merchant=merchant, name="Nordic Socks", url="https://nordicsocks.example", owner=merchant_admin
    )
