from django.contrib import admin

from tenants.admin import ReadOnlyAdmin

from .models import (
    Block,
    Job,
    JobInvoice,
    MatchRequest,
    PartnerProfile,
    Proposal,
    Service,
    ServiceRequest,
    Store,
    Tag,
)


@admin.register(PartnerProfile)
class PartnerProfileAdmin(admin.ModelAdmin):
    list_display = ["organization", "published", "languages", "regions", "updated_at"]
    list_filter = ["published"]
    search_fields = ["organization__name", "description"]
    list_select_related = ["organization"]
    readonly_fields = ["organization"]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["title", "partner", "category", "price_from", "price_to", "currency"]
    list_filter = ["category", "currency"]
    search_fields = ["title", "partner__name"]
    list_select_related = ["partner"]
    raw_id_fields = ["partner"]


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "merchant", "owner"]
    search_fields = ["name", "url", "merchant__name"]
    list_select_related = ["merchant", "owner"]
    raw_id_fields = ["merchant", "owner"]
    filter_horizontal = ["staff"]


class ProposalInline(admin.TabularInline):
    model = Proposal
    extra = 0
    fields = ["title", "price", "currency", "delivery_date", "status", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ServiceRequest)
class ServiceRequestAdmin(ReadOnlyAdmin):
    """Read-only: requests change through what partners and merchants do."""

    list_display = ["conversation", "partner", "merchant", "contact_name", "store_name", "via", "stage"]
    list_filter = ["via", "stage", "category"]
    search_fields = ["contact_name", "store_name", "store_url", "partner__name", "merchant__name"]
    list_select_related = ["conversation", "partner", "merchant"]
    exclude = ["search_text"]
    inlines = [ProposalInline]


@admin.register(MatchRequest)
class MatchRequestAdmin(ReadOnlyAdmin):
    list_display = ["merchant", "category", "language", "region", "budget", "created_at"]
    list_filter = ["category", "language", "region"]
    list_select_related = ["merchant"]
    exclude = ["client_token"]


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["proposal", "request", "status", "created_at", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["proposal", "request"]


@admin.register(JobInvoice)
class JobInvoiceAdmin(ReadOnlyAdmin):
    list_display = ["job", "amount", "currency", "due_date", "status", "created_at"]
    list_filter = ["status", "currency"]
    list_select_related = ["job", "job__proposal"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "created_at"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization"]


@admin.register(Block)
class BlockAdmin(ReadOnlyAdmin):
    """Blocks cannot be undone: no one, not even platform staff, deletes or edits one here."""

    list_display = ["partner", "merchant", "created_by", "created_at"]
    search_fields = ["partner__name", "merchant__name"]
    list_select_related = ["partner", "merchant", "created_by"]

    def has_delete_permission(self, request, obj=None):
        return False
