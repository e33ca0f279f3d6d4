from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("o/<slug:org_slug>/settings/notifications/", views.preferences, name="preferences"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    # Replies by email from a provider (django-anymail's views, basic auth with ANYMAIL_WEBHOOK_SECRET);
    # receivers.receive_reply hands each message to services.inbound_email_receive.
    path("notifications/inbound/postmark/", views.PostmarkInbound.as_view(), name="inbound_postmark"),
]
