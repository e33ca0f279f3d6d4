from django.contrib import admin

from .models import Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "kind",
        "buyer",
        "supplier",
        "issued_on",
        "total",
        "currency",
        "status",
    ]
    list_filter = ["kind", "status", "currency", "issued_on"]
    search_fields = ["number", "buyer__name", "supplier__name"]
    autocomplete_fields = ["buyer", "supplier"]
    list_select_related = ["buyer", "supplier"]
    date_hierarchy = "issued_on"
