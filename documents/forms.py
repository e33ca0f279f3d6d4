from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Document


class DocumentFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All documents")), *Document.Kind.choices],
    )
    q = forms.CharField(
        label=_("Search by number"),
        required=False,
        max_length=40,
        widget=forms.SearchInput(attrs={"placeholder": _("Document number")}),
    )
