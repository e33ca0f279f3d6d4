import re

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.sites.shortcuts import get_current_site
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from .models import Organization
from .tasks import send_password_reset_email

# E.164 allows at most 15 digits; fewer than 6 is never a reachable business number.
PHONE_ALLOWED = re.compile(r"^\+?[0-9 ()./-]+$")


class LoginForm(AuthenticationForm):
    username = forms.EmailField(
        label=_("Email address"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        "invalid_login": _("That email address and password do not match an account."),
        "inactive": _("This account is inactive."),
    }


class QueuedPasswordResetForm(PasswordResetForm):
    """Queues the reset email after commit instead of sending it inside the request."""

    def save(self, domain_override=None, use_https=False, request=None, **kwargs):
        domain = domain_override or get_current_site(request).domain
        for user in self.get_users(self.cleaned_data["email"]):
            transaction.on_commit(
                lambda user_id=user.pk: send_password_reset_email.delay(
                    user_id=user_id, domain=domain, use_https=use_https
                )
            )


class OrganizationSettingsForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = [
            "contact_email",
            "contact_phone",
            "address",
            "hide_contact_info",
            "default_language",
            "messaging_enabled",
        ]
        widgets = {
            "contact_email": forms.EmailInput(attrs={"autocomplete": "email"}),
            "contact_phone": forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
            "address": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "hide_contact_info": _(
                "When on, customers and partners do not see your email, phone or address."
            ),
            "messaging_enabled": _(
                "When off, suppliers cannot send you messages and see your contact information instead."
            ),
            "contact_phone": _("International format, for example +49 30 1234567."),
        }

    def __init__(self, *args, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.is_buyer:
            del self.fields["messaging_enabled"]
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def clean_contact_phone(self) -> str:
        phone = self.cleaned_data["contact_phone"].strip()
        if not phone:
            return ""
        digits = re.sub(r"\D", "", phone)
        if not PHONE_ALLOWED.match(phone) or not 6 <= len(digits) <= 15:
            raise forms.ValidationError(
                _("Enter a phone number of 6 to 15 digits, for example +49 30 1234567.")
            )
        return phone


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    next = forms.CharField(required=False, max_length=2000)
