"""The active organization comes from the URL (/o/<slug>/...): links and browser tabs each keep their own."""

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.utils import translation

from .selectors import membership_list_for_user

LAST_ORGANIZATION_SESSION_KEY = "last_organization"


class UserLanguageMiddleware:
    """A signed-in user's remembered language wins over the cookie and the browser's Accept-Language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)


class ActiveOrganizationMiddleware:
    """Sets request.organization and request.membership from the URL's org_slug.

    A slug the user is not a member of is a 404, whether the organization exists or not.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = None
        request.membership = None
        request.user_memberships = None
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # Popped so views receive only their own arguments; the organization is on the request.
        slug = view_kwargs.pop("org_slug", None)
        if slug is None:
            return None
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        # One query serves both the active membership and the organization switcher.
        memberships = list(membership_list_for_user(user=request.user))
        request.user_memberships = memberships
        membership = next((m for m in memberships if m.organization.slug == slug), None)
        if membership is None:
            raise Http404
        request.organization = membership.organization
        request.membership = membership
        if request.session.get(LAST_ORGANIZATION_SESSION_KEY) != slug:
            request.session[LAST_ORGANIZATION_SESSION_KEY] = slug
        return None
