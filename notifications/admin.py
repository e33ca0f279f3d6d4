from django.contrib import admin

from .models import NotificationPreference, OutgoingEmail


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin):
    """The audit trail of every email: what, to whom, and whether it went (failed ones stand out)."""

    list_display = ["subject", "to_email", "kind", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status", "kind", "language", "created_at"]
    search_fields = ["to_email", "subject", "key"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in OutgoingEmail._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "messages", "connection_requests", "updated_at"]
    list_filter = ["messages", "connection_requests"]
    search_fields = ["user__email", "organization__name"]
    list_select_related = ["user", "organization"]
