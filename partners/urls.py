from django.urls import path

from .views import merchant, partner, requests

app_name = "partners"

urlpatterns = [
    # Partners: Services, Services > Messages, Manage tags
    path("services/", partner.services_page, name="services"),
    path("services/profile/", partner.profile_edit, name="profile"),
    path("services/new/", partner.service_new, name="service_new"),
    path("services/<int:service_id>/edit/", partner.service_edit, name="service_edit"),
    path("services/<int:service_id>/delete/", partner.service_delete, name="service_delete"),
    path("services/messages/", partner.inbox, name="inbox"),
    path("services/tags/", partner.tags, name="tags"),
    path("services/tags/<int:tag_id>/", partner.tag_edit, name="tag_edit"),
    path("services/tags/<int:tag_id>/delete/", partner.tag_delete, name="tag_delete"),
    # Merchants: find a partner, their requests, stores
    path("experts/", merchant.experts, name="experts"),
    path("experts/services/<int:service_id>/contact/", merchant.contact, name="contact"),
    path("experts/match/", merchant.match, name="match"),
    path("experts/match/<int:match_id>/", merchant.match_detail, name="match_detail"),
    path("experts/messages/", merchant.requests, name="requests"),
    path("stores/", merchant.stores, name="stores"),
    path("stores/new/", merchant.store_new, name="store_new"),
    path("stores/<int:store_id>/edit/", merchant.store_edit, name="store_edit"),
    # The conversation of a request, both sides
    path("requests/<int:request_id>/", requests.request_page, name="request"),
    path("requests/<int:request_id>/live/", requests.request_live, name="request_live"),
    path("requests/<int:request_id>/tags/", requests.request_tag_add, name="request_tag_add"),
    path(
        "requests/<int:request_id>/tags/<int:tag_id>/remove/",
        requests.request_tag_remove,
        name="request_tag_remove",
    ),
    path("requests/<int:request_id>/proposals/", requests.proposal_send, name="proposal_send"),
    path(
        "requests/<int:request_id>/proposals/<int:proposal_id>/<slug:action>/",
        requests.proposal_move,
        name="proposal_move",
    ),
    # Before job_move, whose <slug:action> would otherwise take "invoices".
    path("requests/<int:request_id>/jobs/<int:job_id>/invoices/", requests.invoice_send, name="invoice_send"),
    path("requests/<int:request_id>/jobs/<int:job_id>/<slug:action>/", requests.job_move, name="job_move"),
    path(
        "requests/<int:request_id>/invoices/<int:invoice_id>/<slug:action>/",
        requests.invoice_move,
        name="invoice_move",
    ),
    path("requests/<int:request_id>/decline/", requests.request_decline, name="request_decline"),
    path("requests/<int:request_id>/block/", requests.merchant_block, name="merchant_block"),
]
