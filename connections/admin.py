from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from tenants.admin import OrganizationAdmin
from tenants.models import Organization

from . import services
from .matching import record_keys
from .models import Connection, ConnectionRequest, CustomerSearch, SupplierRecord


@admin.register(SupplierRecord)
class SupplierRecordAdmin(admin.ModelAdmin):
    list_display = ["name", "contact_email", "number", "buyer", "created_at"]
    list_filter = ["buyer"]
    search_fields = ["name", "contact_email", "number", "buyer__name"]
    autocomplete_fields = ["buyer"]
    list_select_related = ["buyer"]

    def save_model(self, request, obj, form, change):
        for field, value in record_keys(obj.name, obj.contact_email).items():
            setattr(obj, field, value)
        super().save_model(request, obj, form, change)


@admin.register(ConnectionRequest)
class ConnectionRequestAdmin(admin.ModelAdmin):
    list_display = [
        "supplier",
        "customer",
        "status",
        "contact_email",
        "attempt",
        "requested_at",
        "answered_at",
    ]
    list_filter = ["status", "requested_at"]
    search_fields = ["supplier__name", "customer__name", "contact_email", "comment"]
    list_select_related = ["supplier", "customer"]
    readonly_fields = ["attempt", "requested_by", "answered_by", "answered_at"]
    autocomplete_fields = ["supplier", "customer"]
    date_hierarchy = "requested_at"
    actions = ["expire_now"]

    @admin.action(description=_("Expire requests pending for 30 days or more now"))
    def expire_now(self, request, queryset):
        count = services.connection_requests_expire()
        self.message_user(
            request,
            ngettext("%(count)d request expired.", "%(count)d requests expired.", count) % {"count": count},
            messages.SUCCESS,
        )


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["supplier", "customer", "created_at"]
    search_fields = ["supplier__name", "customer__name"]
    list_select_related = ["supplier", "customer"]
    autocomplete_fields = ["supplier", "customer", "supplier_records"]
    readonly_fields = ["request"]


@admin.register(CustomerSearch)
class CustomerSearchAdmin(admin.ModelAdmin):
    list_display = ["supplier", "query", "user", "searched_at"]
    search_fields = ["supplier__name", "query"]
    list_select_related = ["supplier", "user"]

    def has_change_permission(self, request, obj=None):
        return False


class SupplierMergeOrganizationAdmin(OrganizationAdmin):
    """The organization admin, plus merging supplier accounts (which needs this app's rules)."""

    actions = [*OrganizationAdmin.actions, "merge_suppliers"]

    @admin.action(description=_("Merge two supplier accounts…"))
    def merge_suppliers(self, request, queryset):
        organizations = list(queryset.order_by("name"))
        if len(organizations) != 2 or not all(o.is_supplier for o in organizations):
            self.message_user(request, _("Select exactly two supplier accounts to merge."), messages.ERROR)
            return None
        survivor_id = request.POST.get("survivor")
        if request.POST.get("confirm") == "yes" and survivor_id:
            survivor = next((o for o in organizations if str(o.pk) == survivor_id), None)
            if survivor is not None:
                merged = next(o for o in organizations if o.pk != survivor.pk)
                summary = services.supplier_accounts_merge(
                    actor=request.user, survivor=survivor, merged=merged
                )
                self.message_user(
                    request,
                    _(
                        "%(merged)s was merged into %(survivor)s: %(members)d members, "
                        "%(documents)d documents, %(requests)d requests kept, %(removed)d removed."
                    )
                    % {
                        "merged": merged.name,
                        "survivor": survivor.name,
                        "members": summary["members"],
                        "documents": summary["documents"],
                        "requests": summary["requests_kept"],
                        "removed": summary["requests_removed"],
                    },
                    messages.SUCCESS,
                )
                return None
        return TemplateResponse(
            request,
            "admin/connections/merge_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Merge supplier accounts"),
                "organizations": organizations,
                "queryset": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


admin.site.unregister(Organization)
admin.site.register(Organization, SupplierMergeOrganizationAdmin)
