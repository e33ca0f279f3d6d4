from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import AuditLogEntry, Membership, Organization, User


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the app writes through its services: readable in the admin, never added or edited there."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "language", "is_staff", "is_active"]
    list_filter = ["is_staff", "is_superuser", "is_active", "language"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "language")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "kind", "tier", "messaging_enabled", "contact_email"]
    list_filter = ["kind", "tier", "messaging_enabled", "hide_contact_info", "default_language"]
    search_fields = ["name", "slug", "contact_email"]
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]
    actions = ["make_enterprise", "make_standard", "enable_messaging", "disable_messaging"]

    def _set_tier(self, request, queryset, tier: str) -> None:
        changed = skipped = 0
        for organization in queryset:
            if not organization.is_supplier:
                skipped += 1
                continue
            changed += services.organization_set_tier(
                actor=request.user, organization=organization, tier=tier
            )
        self.message_user(
            request,
            ngettext("%(count)d supplier changed.", "%(count)d suppliers changed.", changed)
            % {"count": changed},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d organization skipped: only suppliers have a tier.",
                    "%(count)d organizations skipped: only suppliers have a tier.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )

    def _set_messaging(self, request, queryset, enabled: bool) -> None:
        changed = skipped = 0
        for organization in queryset:
            if not organization.is_buyer:
                skipped += 1
                continue
            changed += services.organization_set_messaging(
                actor=request.user, organization=organization, enabled=enabled
            )
        self.message_user(
            request,
            ngettext("%(count)d buyer changed.", "%(count)d buyers changed.", changed) % {"count": changed},
            messages.SUCCESS,
        )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d organization skipped: only buyers switch messaging.",
                    "%(count)d organizations skipped: only buyers switch messaging.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )

    @admin.action(description=_("Change tier to Enterprise"))
    def make_enterprise(self, request, queryset):
        self._set_tier(request, queryset, Organization.Tier.ENTERPRISE)

    @admin.action(description=_("Change tier to Standard"))
    def make_standard(self, request, queryset):
        self._set_tier(request, queryset, Organization.Tier.STANDARD)

    @admin.action(description=_("Turn messaging on"))
    def enable_messaging(self, request, queryset):
        self._set_messaging(request, queryset, True)

    @admin.action(description=_("Turn messaging off"))
    def disable_messaging(self, request, queryset):
        self._set_messaging(request, queryset, False)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization__kind"]
    search_fields = ["user__email", "user__first_name", "user__last_name", "organization__name"]
    autocomplete_fields = ["user", "organization"]
    list_select_related = ["user", "organization"]


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "organization", "actor"]
    list_filter = ["action"]
    search_fields = ["action", "organization__name", "actor__email"]
    list_select_related = ["organization", "actor"]
    readonly_fields = ["created_at", "actor", "organization", "action", "data"]
