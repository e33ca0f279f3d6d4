from django.contrib import admin

from .models import Attachment, Conversation, Message, Participant


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    readonly_fields = ["organization", "last_message_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["subject", "document", "status", "message_count", "last_message_at", "created_at"]
    list_filter = ["status", "document__kind", "created_at"]
    search_fields = ["subject", "document__number", "participants__organization__name"]
    list_select_related = ["document"]
    readonly_fields = [
        "document",
        "created_by",
        "created_at",
        "last_message_at",
        "last_message_snippet",
        "message_count",
    ]
    inlines = [ParticipantInline]
    date_hierarchy = "last_message_at"


class AttachmentInline(admin.TabularInline):
    model = Attachment
    extra = 0
    readonly_fields = ["name", "size", "content_type", "file"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """Read-only: what people wrote is never edited by administrators."""

    list_display = ["conversation", "author", "author_organization", "source", "created_at"]
    list_filter = ["source", "created_at"]
    search_fields = ["body", "conversation__subject", "author__email", "author_organization__name"]
    list_select_related = ["conversation", "author", "author_organization"]
    readonly_fields = ["conversation", "author", "author_organization", "body", "source", "created_at"]
    exclude = ["client_token"]
    inlines = [AttachmentInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
