from django.urls import path

from . import views

app_name = "connections"

urlpatterns = [
    # Supplier administrators: Setup > Connection requests
    path("requests/", views.connection_requests, name="requests"),
    path("requests/search/", views.customer_search, name="search"),
    path("requests/new/", views.connection_request_new, name="request_new"),
    path(
        "requests/suggestions/<int:customer_id>/connect/", views.suggestion_connect, name="suggestion_connect"
    ),
    # Customer administrators
    path("incoming/", views.incoming_requests, name="incoming"),
    path("incoming/<int:request_id>/approve/", views.incoming_approve, name="incoming_approve"),
    path("incoming/<int:request_id>/reject/", views.incoming_reject, name="incoming_reject"),
    path("suppliers/", views.supplier_records, name="supplier_records"),
    path("suppliers/<int:record_id>/", views.supplier_record_edit, name="supplier_record_edit"),
    path("suppliers/<int:record_id>/delete/", views.supplier_record_delete, name="supplier_record_delete"),
    # Both sides
    path("<int:connection_id>/", views.connection_detail, name="detail"),
]
