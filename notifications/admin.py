from django.contrib import admin

from tenants.admin import ReadOnlyAdmin

from .models import InboundEmail, NotificationPreference, OutgoingEmail, PendingMessageEmails, ReplyToken


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(ReadOnlyAdmin):
    """The audit trail of every email: what, to whom, and whether it went (failed ones stand out)."""

    list_display = ["subject", "to_email", "kind", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "kind", "language", "created_at"]
    search_fields = ["to_email", "subject", "key"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in OutgoingEmail._meta.fields]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "messages", "connection_requests", "updated_at"]
    list_filter = ["messages", "connection_requests"]
    search_fields = ["user__email", "organization__name"]
    list_select_related = ["user", "organization"]


@admin.register(InboundEmail)
class InboundEmailAdmin(ReadOnlyAdmin):
    """Every email that reached a reply address: posted, refused (and why) or ignored as automatic."""

    list_display = ["received_at", "from_email", "subject", "status", "reason", "size"]
    list_filter = ["status", "reason", "received_at"]
    search_fields = ["from_email", "subject", "header_message_id"]
    date_hierarchy = "received_at"
    readonly_fields = [field.name for field in InboundEmail._meta.fields]
    list_select_related = ["posted"]


@admin.register(ReplyToken)
class ReplyTokenAdmin(ReadOnlyAdmin):
    """Who can reply by email where; the tokens themselves are never stored, only their hashes."""

    list_display = ["user", "organization", "conversation", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at", "created_at"]
    search_fields = ["user__email", "organization__name"]
    list_select_related = ["user", "organization", "conversation"]
    readonly_fields = [field.name for field in ReplyToken._meta.fields]


@admin.register(PendingMessageEmails)
class PendingMessageEmailsAdmin(ReadOnlyAdmin):
    """Messages whose emails the worker has yet to write: empty within seconds when the worker keeps up; a
    row over a minute old is queued again by the sweeper."""

    list_display = ["message", "created_at"]
    date_hierarchy = "created_at"
    readonly_fields = ["message", "created_at"]
    list_select_related = ["message"]
