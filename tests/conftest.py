import pytest

from config import celery_app
from tenants.models import Membership
from tests.factories import (
    BuyerFactory,
    DocumentFactory,
    MembershipFactory,
    OrganizationFactory,
    SupplierFactory,
    UserFactory,
)


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _celery_in_process(request):
    """Tasks run in the test's process unless the test starts a real worker (tests marked celery_worker)."""
    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def buyer(db):
    return BuyerFactory(name="Nordwind Handel GmbH", slug="nordwind")


@pytest.fixture
def supplier(db):
    return SupplierFactory(name="Acme Industrial Supply Inc.", slug="acme")


@pytest.fixture
def outsider_org(db):
    return OrganizationFactory(name="Elsewhere Oy", slug="elsewhere", kind="supplier")


def _member(organization, role):
    return MembershipFactory(organization=organization, role=role).user


@pytest.fixture
def buyer_admin(buyer):
    return _member(buyer, Membership.Role.ADMINISTRATOR)


@pytest.fixture
def buyer_member(buyer):
    return _member(buyer, Membership.Role.MEMBER)


@pytest.fixture
def supplier_admin(supplier):
    return _member(supplier, Membership.Role.ADMINISTRATOR)


@pytest.fixture
def supplier_member(supplier):
    return _member(supplier, Membership.Role.MEMBER)


@pytest.fixture
def outsider(outsider_org):
    return _member(outsider_org, Membership.Role.ADMINISTRATOR)


@pytest.fixture
def document(buyer, supplier):
    return DocumentFactory(buyer=buyer, supplier=supplier, number="4500000042")


@pytest.fixture
def user_factory(db):
    return UserFactory


@pytest.fixture
def as_user(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in
