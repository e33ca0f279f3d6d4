"""Reads of organizations and memberships. Each takes the user or organization it is scoped to."""

from django.db.models import QuerySet

from .models import Membership, Organization, User


def membership_for_slug(*, user: User, slug: str) -> Membership | None:
    """The user's membership in the organization with this slug, or None (not a member, or no such slug)."""
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("organization").filter(user=user, organization__slug=slug).first()
    )


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    """The organizations a user belongs to, for the switcher, in name order."""
    return Membership.objects.filter(user=user).select_related("organization").order_by("organization__name")


def membership_list(*, organization: Organization) -> QuerySet[Membership]:
    """The members of one organization, administrators first."""
    return (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("role", "user__first_name", "user__last_name", "user__email")
    )


def default_membership(*, user: User, preferred_slug: str | None = None) -> Membership | None:
    """Where a signed-in user lands: the organization last used if still a member, else the first by name."""
    if preferred_slug:
        membership = membership_for_slug(user=user, slug=preferred_slug)
        if membership is not None:
            return membership
    return membership_list_for_user(user=user).first()
