import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import MAX_ATTACHMENTS, MAX_BODY_LENGTH
from .services import prepare_uploads


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern); each is checked by messaging.uploads."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"data-max-files": MAX_ATTACHMENTS}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return prepare_uploads([super(MultipleFileField, self).clean(f, initial) for f in files])


class OneTimeKeyForm(forms.Form):
    """A fresh key per rendered form: the same form sent twice does its work once."""

    client_token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client_token"].initial = uuid.uuid4()

    def clean_client_token(self) -> uuid.UUID | None:
        # A mangled key only costs the double-submit guard; the form itself is still fine to send.
        try:
            return uuid.UUID(self.cleaned_data["client_token"])
        except ValueError:
            return None


class MessageFields(OneTimeKeyForm):
    body = forms.CharField(
        label=_("Message"),
        max_length=MAX_BODY_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5, "maxlength": MAX_BODY_LENGTH}),
        error_messages={"required": _("Write a message before sending.")},
    )
    files = MultipleFileField(
        label=_("Attach files"),
        help_text=_("Up to 10 files, 10 MB each. Programs cannot be sent."),
    )


class ReplyForm(MessageFields):
    pass


class NewConversationFields(MessageFields):
    subject = forms.CharField(
        label=_("Subject"),
        max_length=200,
        error_messages={"required": _("Write a subject before sending.")},
    )
    field_order = ["subject", "body", "files", "client_token"]


class DocumentConversationForm(NewConversationFields):
    """In context: the counterpart is the document's other party."""


class ComposeForm(NewConversationFields):
    """Context-free: pick one of the connected counterparts."""

    counterpart = forms.TypedChoiceField(
        label=_("To"),
        coerce=int,
        empty_value=None,
        error_messages={"required": _("Choose who receives the message.")},
    )
    field_order = ["counterpart", "subject", "body", "files", "client_token"]

    def __init__(self, *args, counterparts, **kwargs):
        super().__init__(*args, **kwargs)
        self.counterparts = {o.pk: o for o in counterparts}
        self.fields["counterpart"].choices = [("", "—"), *((o.pk, o.name) for o in counterparts)]

    def clean_counterpart(self):
        counterpart = self.counterparts.get(self.cleaned_data["counterpart"])
        if counterpart is None:
            raise ValidationError(_("Choose one of your connected organizations."))
        return counterpart


class InboxFilterForm(forms.Form):
    filter = forms.ChoiceField(
        label=_("Show"),
        required=False,
        choices=[
            ("", _("All conversations")),
            ("unread", _("Unread")),
            ("context_free", _("Context-free")),
            ("purchase_order", _("Purchase orders")),
            ("invoice", _("Invoices")),
        ],
    )
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Subject, organization, message or document number")}
        ),
    )
