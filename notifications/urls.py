from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("o/<slug:org_slug>/settings/notifications/", views.preferences, name="preferences"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
