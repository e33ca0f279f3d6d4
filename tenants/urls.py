from django.urls import path

from . import views

app_name = "tenants"

urlpatterns = [
    path("", views.organization_home, name="home"),
    path("settings/", views.organization_settings, name="settings"),
]
