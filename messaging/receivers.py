"""messaging reacts to lower apps here: a merged supplier's conversations move to the surviving account, and
a saved name, number or status makes every cached fragment stale (messaging.fragments)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from connections.signals import supplier_accounts_merging
from documents.models import Document
from tenants.models import Organization, User

from .fragments import fragments_expire
from .models import Conversation, Message, Participant

# The fields a fragment shows; a save that names only others (a login's last_login) leaves fragments be.
SHOWN_FIELDS = {
    User: {"first_name", "last_name", "email"},
    Organization: {"name", "slug"},
    Document: {"number", "kind"},
    Conversation: {"subject", "status", "document"},
}


@receiver(supplier_accounts_merging)
def move_conversations(sender, survivor, merged, **kwargs) -> None:
    Participant.objects.filter(organization=merged).update(organization=survivor)
    Message.objects.filter(author_organization=merged).update(author_organization=survivor)
    fragments_expire()


def expire_fragments_on_save(sender, instance, created, update_fields=None, **kwargs) -> None:
    # A new row is in no fragment yet (a new conversation changes the inbox's key by itself).
    if not created and (update_fields is None or SHOWN_FIELDS[sender] & set(update_fields)):
        fragments_expire()


def expire_fragments_on_delete(sender, instance, **kwargs) -> None:
    fragments_expire()


# Connected to these models only: a receiver for every model would make Django fetch each row of a cascade
# to send it (no fast deletes), and messages and files are only ever deleted with their conversation.
for model in SHOWN_FIELDS:
    post_save.connect(expire_fragments_on_save, sender=model, dispatch_uid=f"fragments-save-{model.__name__}")
    post_delete.connect(
        expire_fragments_on_delete, sender=model, dispatch_uid=f"fragments-delete-{model.__name__}"
    )
