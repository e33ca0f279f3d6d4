from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from tenants import views as tenant_views
from tenants.forms import LoginForm, QueuedPasswordResetForm

admin.site.site_header = _("Parley administration")
admin.site.site_title = _("Parley administration")

auth_patterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(form_class=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(form_class=QueuedPasswordResetForm),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]

urlpatterns = [
    path("", tenant_views.home, name="home"),
    path("accounts/", include(auth_patterns)),
    path("language/", tenant_views.set_language, name="set_language"),
    path("healthz/", tenant_views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("o/<slug:org_slug>/", include("tenants.urls")),
    path("o/<slug:org_slug>/documents/", include("documents.urls")),
    path("o/<slug:org_slug>/connections/", include("connections.urls")),
    path("o/<slug:org_slug>/messages/", include("messaging.urls")),
    path("o/<slug:org_slug>/", include("partners.urls")),
    path("", include("notifications.urls")),
]

# A database that cannot be reached answers 503 "try again in a moment", not the generic 400 or 500 page.
handler400 = "config.errors.bad_request"
handler500 = "config.errors.server_error"
