"""Who may send a message where, each answer with a reason a person can read."""

from django.utils.translation import gettext as _

from connections.selectors import are_connected
from tenants.models import Organization
from tenants.policy import Decision

from .models import Conversation


def supplier_and_buyer(a: Organization, b: Organization) -> tuple[Organization, Organization] | None:
    if a.is_supplier and b.is_buyer:
        return a, b
    if b.is_supplier and a.is_buyer:
        return b, a
    return None


def can_send(
    *,
    organization: Organization,
    counterpart: Organization,
    conversation: Conversation | None = None,
    connected: bool | None = None,
) -> Decision:
    """Whether `organization` may send to `counterpart` (in `conversation`, when replying).

    Between a supplier and a buyer (SAP Business Network): the supplier must be Enterprise, the buyer must
    have messaging on, and the two must be connected. Any conversation must be open. `connected` is whether
    the two are, when the caller read it already (selectors.open_conversation does); None reads it here.
    """
    if conversation is not None and not conversation.is_open:
        return Decision(False, _("This conversation is closed. No new messages can be sent in it."))
    pair = supplier_and_buyer(organization, counterpart)
    if pair is not None:
        supplier, buyer = pair
        if not supplier.is_enterprise:
            if supplier == organization:
                return Decision(
                    False,
                    _(
                        "Messaging is available to Enterprise suppliers. "
                        "Upgrade your account to send messages."
                    ),
                )
            return Decision(
                False,
                _("%(name)s has a Standard account and cannot receive messages.") % {"name": supplier.name},
            )
        if not buyer.messaging_enabled:
            if buyer == organization:
                return Decision(
                    False, _("Your organization has turned messaging off. Turn it on in Settings.")
                )
            return Decision(
                False,
                _("%(name)s has turned messaging off. Contact them using their contact information.")
                % {"name": buyer.name},
            )
        if connected is None:
            connected = are_connected(supplier=supplier, customer=buyer)
        if not connected:
            return Decision(
                False,
                _("You are not connected with %(name)s yet. Connect first, then send messages.")
                % {"name": counterpart.name},
            )
        return Decision(True)
    if conversation is None:
        # Other kinds of organizations start conversations through their own app (partners).
        return Decision(False, _("Conversations with this organization cannot be started here."))
    return Decision(True)
