from django import forms
from django.utils.translation import gettext_lazy as _

from .models import NotificationPreference


class PreferenceForm(forms.Form):
    messages = forms.ChoiceField(
        label=_("New messages"),
        choices=NotificationPreference.Messages.choices,
        widget=forms.RadioSelect,
    )
    connection_requests = forms.BooleanField(label=_("Email me about connection requests"), required=False)
