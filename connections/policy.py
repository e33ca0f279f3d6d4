"""Who may ask to connect and who may answer, each with a reason a person can read."""

from django.utils.translation import gettext as _

from tenants.models import Membership
from tenants.policy import Decision


def can_manage_connection_requests(membership: Membership) -> Decision:
    """Supplier administrators send connection requests (Setup > Connection requests)."""
    if not membership.organization.is_supplier:
        return Decision(False, _("Only suppliers send connection requests."))
    if not membership.is_administrator:
        return Decision(False, _("Only administrators of this supplier can manage connection requests."))
    return Decision(True)


def can_answer_connection_requests(membership: Membership) -> Decision:
    """Buyer administrators approve or reject the requests their organization receives."""
    if not membership.organization.is_buyer:
        return Decision(False, _("Only customers answer connection requests."))
    if not membership.is_administrator:
        return Decision(False, _("Only administrators of this customer can answer connection requests."))
    return Decision(True)


def can_manage_supplier_records(membership: Membership) -> Decision:
    """Buyer administrators keep the list of suppliers they buy from; members may read it."""
    if not membership.organization.is_buyer:
        return Decision(False, _("Only customers keep supplier records."))
    if not membership.is_administrator:
        return Decision(False, _("Only administrators of this customer can change supplier records."))
    return Decision(True)
