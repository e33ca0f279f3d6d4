"""partners reacts to saves outside its services (the admin): a tag renamed or deleted there changes what
its partner's inbox shows (partners.fragments)."""

from django.db.models.signals import post_delete, post_save

from .fragments import inbox_expire
from .models import Tag


def expire_inbox_on_tag_save(sender, instance, created, **kwargs) -> None:
    if not created:  # a new tag is on no conversation yet
        inbox_expire(instance.organization_id)


def expire_inbox_on_tag_delete(sender, instance, **kwargs) -> None:
    inbox_expire(instance.organization_id)


# Tags only: a receiver for ConversationTag would make every cascade load its rows one by one to send them.
post_save.connect(expire_inbox_on_tag_save, sender=Tag, dispatch_uid="partners-inbox-tag-save")
post_delete.connect(expire_inbox_on_tag_delete, sender=Tag, dispatch_uid="partners-inbox-tag-delete")
