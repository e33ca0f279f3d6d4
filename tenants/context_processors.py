from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .selectors import membership_list_for_user


def tenancy(request):
    """The active organization and the user's other organizations, for the switcher in _base.html."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    return {
        "organization": getattr(request, "organization", None),
        "membership": getattr(request, "membership", None),
        "user_memberships": getattr(request, "user_memberships", None)
        or SimpleLazyObject(lambda: list(membership_list_for_user(user=user)) if signed_in else []),
        "available_languages": settings.LANGUAGES,
    }
