"""messaging reacts to lower apps here: a merged supplier's conversations move to the surviving account."""

from django.dispatch import receiver

from connections.signals import supplier_accounts_merging

from .models import Message, Participant


@receiver(supplier_accounts_merging)
def move_conversations(sender, survivor, merged, **kwargs) -> None:
    Participant.objects.filter(organization=merged).update(organization=survivor)
    Message.objects.filter(author_organization=merged).update(author_organization=survivor)
