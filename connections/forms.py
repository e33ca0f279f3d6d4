from django import forms
from django.core import signing
from django.utils.translation import gettext_lazy as _

from .captcha import captcha_field
from .models import SupplierRecord

SELECTION_SALT = "connections.customer-selection"
SELECTION_MAX_AGE = 60 * 60 * 24


def sign_selection(*, supplier_id: int, customer_id: int) -> str:
    """A token for a customer found in a search, so the request form cannot be pointed at any id."""
    return signing.dumps({"s": supplier_id, "c": customer_id}, salt=SELECTION_SALT, compress=True)


def read_selection(token: str, *, supplier_id: int) -> int | None:
    try:
        value = signing.loads(token, salt=SELECTION_SALT, max_age=SELECTION_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(value, dict) or value.get("s") != supplier_id or not isinstance(value.get("c"), int):
        return None
    return value["c"]


class CustomerSearchForm(forms.Form):
    query = forms.CharField(
        label=_("Customer name"),
        min_length=2,
        max_length=100,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={
            "required": _("Enter the name of the customer you are looking for."),
            "min_length": _("Enter at least 2 characters of the customer's name."),
        },
    )


class ConnectionRequestForm(forms.Form):
    customer = forms.CharField(widget=forms.HiddenInput)
    contact_email = forms.EmailField(
        label=_("Customer contact"),
        max_length=254,
        help_text=_("The email address of the person at your customer who should receive the request."),
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    confirm = forms.BooleanField(
        label=_(
            "I confirm that this organization is my customer and that this contact may receive my request."
        ),
        error_messages={"required": _("Tick the confirmation to send the request.")},
    )

    def __init__(self, *args, supplier_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.supplier_id = supplier_id
        self.fields["captcha"] = captcha_field()
        self.fields["captcha"].error_messages.update(
            {
                "required": _("Complete the captcha to send the request."),
                "invalid": _("The captcha could not be verified. Try it again."),
                "replay": _("This form was already sent. Check the table for your request."),
            }
        )

    def clean_customer(self) -> int:
        customer_id = read_selection(self.cleaned_data["customer"], supplier_id=self.supplier_id)
        if customer_id is None:
            raise forms.ValidationError(_("Select the customer from your search results again."))
        return customer_id


class RejectForm(forms.Form):
    comment = forms.CharField(
        label=_("Comment for the supplier (optional)"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 1000}),
        help_text=_(
            "Why you are rejecting the request. The supplier sees this comment. At most 1,000 characters."
        ),
    )


class SupplierRecordForm(forms.ModelForm):
    class Meta:
        model = SupplierRecord
        fields = ["name", "contact_email", "number"]
        help_texts = {
            "number": _("Your own number for this supplier, if you use one."),
            "contact_email": _("Used to recognise the supplier when it joins Parley."),
        }
