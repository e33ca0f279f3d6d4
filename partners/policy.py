"""Who may do what between partners and merchants, each answer with a reason a person can read."""

from django.utils.translation import gettext as _

from tenants.models import Membership, Organization
from tenants.policy import Decision

from .models import Block, Job, JobInvoice, PartnerProfile, Proposal, Service


def is_partner(organization: Organization) -> bool:
    return organization.kind == Organization.Kind.PARTNER


def is_merchant(organization: Organization) -> bool:
    return organization.kind == Organization.Kind.MERCHANT


def can_edit_profile(membership: Membership) -> Decision:
    """A partner's administrators edit its profile and services; members read them."""
    if not membership.is_administrator:
        return Decision(False, _("Only administrators of this partner can change its profile and services."))
    return Decision(True)


def can_manage_stores(membership: Membership) -> Decision:
    if not membership.is_administrator:
        return Decision(False, _("Only administrators of this merchant can add or change stores."))
    return Decision(True)


def can_block(membership: Membership) -> Decision:
    """Blocking cannot be undone, so only a partner's administrators may do it."""
    if not membership.is_administrator:
        return Decision(False, _("Only administrators of this partner can block a merchant."))
    return Decision(True)


def is_reachable(partner: Organization) -> Decision:
    """A partner receives messages only with a published profile and at least one service (Shopify)."""
    profile = PartnerProfile.objects.filter(organization=partner).first()
    if profile is None or not profile.published:
        return Decision(
            False, _("%(name)s is not accepting new requests right now.") % {"name": partner.name}
        )
    if not Service.objects.filter(partner=partner).exists():
        return Decision(False, _("%(name)s offers no services yet.") % {"name": partner.name})
    return Decision(True)


def is_blocked(*, partner: Organization, merchant: Organization) -> bool:
    return Block.objects.filter(partner=partner, merchant=merchant).exists()


def blocked_reason(partner: Organization) -> str:
    return _("%(name)s does not accept messages from your organization.") % {"name": partner.name}


def can_contact(*, merchant: Organization, partner: Organization) -> Decision:
    """Only merchants start conversations, only with reachable partners that have not blocked them."""
    if not is_merchant(merchant):
        return Decision(False, _("Only merchants can contact partners."))
    if not is_partner(partner):
        return Decision(False, _("This organization is not a partner."))
    if is_blocked(partner=partner, merchant=merchant):
        return Decision(False, blocked_reason(partner))
    return is_reachable(partner)


# The order of a proposal, a job and an invoice: (from, to) pairs that are allowed, and by whom.
PROPOSAL_MOVES = {
    (Proposal.Status.SENT, Proposal.Status.ACCEPTED): "merchant",
    (Proposal.Status.SENT, Proposal.Status.DECLINED): "merchant",
    (Proposal.Status.SENT, Proposal.Status.WITHDRAWN): "partner",
}
JOB_MOVES = {
    (Job.Status.OPEN, Job.Status.COMPLETED): "partner",
    (Job.Status.COMPLETED, Job.Status.CLOSED): "either",
}
INVOICE_MOVES = {
    (JobInvoice.Status.OPEN, JobInvoice.Status.PAID): "partner",
    (JobInvoice.Status.OPEN, JobInvoice.Status.CLOSED): "partner",
}


def _side(organization: Organization) -> str:
    return "partner" if is_partner(organization) else "merchant"


def can_move(moves: dict, item, target: str, organization: Organization) -> Decision:
    """Whether `organization` may move `item` (a proposal, job or invoice) from its status to `target`."""
    who = moves.get((item.status, target))
    if who is None:
        return Decision(
            False,
            _("This cannot be done now: its status is “%(status)s”.") % {"status": item.get_status_display()},
        )
    if who != "either" and who != _side(organization):
        return Decision(False, _("Only the other party can do this."))
    return Decision(True)
