"""Yes/no rules about organizations, each with a reason a person can read."""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from .models import Membership


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


def can_manage_organization(membership: Membership) -> Decision:
    """Only administrators change an organization's settings."""
    if membership.is_administrator:
        return Decision(True)
    return Decision(False, str(_("Only administrators of this organization can change its settings.")))
