import datetime
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from messaging.forms import OneTimeKeyForm

from .models import MAX_PRICE, MAX_TAG_LENGTH, Budget, Category, Currency, Language, Region


def money_field(label) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        min_value=Decimal("0.01"),
        max_value=MAX_PRICE,
        max_digits=12,
        decimal_places=2,
        error_messages={
            "min_value": _("Enter an amount of more than zero."),
            "max_value": _("Enter an amount of at most 1,000,000."),
            "invalid": _("Enter an amount as a number, for example 1500 or 1500.50."),
            "required": _("Enter an amount."),
        },
        widget=forms.NumberInput(
            attrs={"step": "0.01", "min": "0.01", "max": MAX_PRICE, "inputmode": "decimal"}
        ),
    )


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


# Partner profile and services -------------------------------------------------------------------------------


class ProfileForm(forms.Form):
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("What your team does well, for merchants choosing a partner."),
    )
    languages = forms.MultipleChoiceField(
        label=_("Languages"), choices=Language.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    regions = forms.MultipleChoiceField(
        label=_("Regions"), choices=Region.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    published = forms.BooleanField(
        label=_("Published: merchants can find you and contact you"), required=False
    )


class ServiceForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), choices=Category.choices)
    title = forms.CharField(label=_("Title"), max_length=120)
    description = forms.CharField(
        label=_("Description"), max_length=4000, widget=forms.Textarea(attrs={"rows": 4})
    )
    price_from = forms.DecimalField(
        label=_("Price from"), min_value=0, max_value=MAX_PRICE, max_digits=12, decimal_places=2
    )
    price_to = forms.DecimalField(
        label=_("Price to"), min_value=0, max_value=MAX_PRICE, max_digits=12, decimal_places=2
    )
    currency = forms.ChoiceField(label=_("Currency"), choices=Currency.choices)

    def clean(self):
        data = super().clean()
        low, high = data.get("price_from"), data.get("price_to")
        if low is not None and high is not None and high < low:
            self.add_error("price_to", _("The upper price must not be below the lower one."))
        return data


# Stores -----------------------------------------------------------------------------------------------------


class StoreForm(forms.Form):
    name = forms.CharField(label=_("Store name"), max_length=120)
    url = forms.URLField(
        label=_("Store URL"),
        max_length=200,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com"}),
    )
    owner = forms.TypedChoiceField(label=_("Owner"), coerce=int, required=False, empty_value=None)
    staff = forms.TypedMultipleChoiceField(
        label=_("Staff"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, members, **kwargs):
        super().__init__(*args, **kwargs)
        self.members = {user.pk: user for user in members}
        choices = [(user.pk, f"{user.display_name} ({user.email})") for user in members]
        self.fields["owner"].choices = [("", _("No owner")), *choices]
        self.fields["staff"].choices = choices

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise ValidationError(_("Enter the store's web address, starting with https://."))
        return url

    def clean_owner(self):
        owner = self.cleaned_data["owner"]
        return self.members.get(owner) if owner else None

    def clean_staff(self):
        return [self.members[pk] for pk in self.cleaned_data["staff"] if pk in self.members]


# Merchants: browsing, contacting, matching ------------------------------------------------------------------


class ServiceFilterForm(forms.Form):
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("All categories")), *Category.choices]
    )
    language = forms.ChoiceField(
        label=_("Language"), required=False, choices=[("", _("Any language")), *Language.choices]
    )
    region = forms.ChoiceField(
        label=_("Region"), required=False, choices=[("", _("Any region")), *Region.choices]
    )
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("Service, partner or description")}),
    )


class StoreChoiceMixin:
    def _store_choices(self, stores) -> None:
        self.stores = {store.pk: store for store in stores}
        self.fields["store"].choices = [
            ("", _("No store yet")),
            *((s.pk, f"{s.name} ({s.url})") for s in stores),
        ]

    def clean_store(self):
        store_id = self.cleaned_data["store"]
        if store_id is None:
            return None
        store = self.stores.get(store_id)
        if store is None:
            raise ValidationError(_("Choose one of your stores, or no store."))
        return store


class ContactForm(StoreChoiceMixin, OneTimeKeyForm):
    store = forms.TypedChoiceField(label=_("Store"), coerce=int, required=False, empty_value=None)
    budget = forms.ChoiceField(label=_("Budget"), choices=Budget.choices, initial=Budget.UNKNOWN)
    requirements = forms.CharField(
        label=_("Requirements"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": 4000}),
        help_text=_("What you need done, by when, and anything the partner should know about your store."),
        error_messages={"required": _("Describe what you need before sending.")},
    )
    field_order = ["store", "budget", "requirements", "client_token"]

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self._store_choices(stores)


class MatchForm(StoreChoiceMixin, OneTimeKeyForm):
    category = forms.ChoiceField(label=_("Service needed"), choices=Category.choices)
    store = forms.TypedChoiceField(label=_("Store"), coerce=int, required=False, empty_value=None)
    budget = forms.ChoiceField(label=_("Budget"), choices=Budget.choices, initial=Budget.UNKNOWN)
    language = forms.ChoiceField(label=_("Language you want to work in"), choices=Language.choices)
    region = forms.ChoiceField(label=_("Where your business is"), choices=Region.choices)
    requirements = forms.CharField(
        label=_("Requirements"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": 4000}),
        error_messages={"required": _("Describe what you need before sending.")},
    )
    field_order = ["category", "store", "budget", "language", "region", "requirements", "client_token"]

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self._store_choices(stores)


# Partner inbox ----------------------------------------------------------------------------------------------


def integer_ids(values) -> list[int]:
    """Whole positive numbers among `values`; anything else (text, huge numbers) is dropped."""
    ids = []
    for value in values:
        try:
            number = int(value)
        except (TypeError, ValueError):
            continue
        if 0 < number < 2**31:
            ids.append(number)
    return ids[:20]


class RequestFilterForm(forms.Form):
    tag = forms.TypedMultipleChoiceField(
        label=_("Tags"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    unread = forms.BooleanField(label=_("Unread only"), required=False)
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": _("Contact name, store name or store URL")}
        ),
    )

    def __init__(self, *args, tags=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag"].choices = [(tag.pk, tag.name) for tag in tags]


# Tags -------------------------------------------------------------------------------------------------------


class TagForm(forms.Form):
    name = forms.CharField(
        label=_("Tag name"),
        max_length=MAX_TAG_LENGTH,
        error_messages={
            "required": _("Write a tag name."),
            "max_length": _("A tag name can be at most %(limit_value)d characters long."),
        },
    )


class AddTagForm(forms.Form):
    """Add tag: a typed name (new or existing, several separated by commas) or a tag chosen by id."""

    name = forms.CharField(label=_("Add tag"), required=False, max_length=200)
    tag = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        names = [part for part in (data.get("name") or "").split(",") if part.strip()]
        raw_ids = [part for part in (data.get("tag") or "").split(",") if part.strip()]
        ids = integer_ids(raw_ids)
        if len(ids) != len(raw_ids):
            raise ValidationError(_("That tag does not exist. Reload the page and try again."))
        if not names and not ids:
            raise ValidationError(_("Write a tag name."))
        data["names"], data["tag_ids"] = names, ids
        return data


# Proposals, jobs, invoices, declining -----------------------------------------------------------------------


class ProposalForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=120)
    scope = forms.CharField(
        label=_("Scope of work"), max_length=4000, widget=forms.Textarea(attrs={"rows": 5})
    )
    price = money_field(_("Price"))
    currency = forms.ChoiceField(
        label=_("Currency"),
        choices=Currency.choices,
        error_messages={"invalid_choice": _("Choose a currency from the list.")},
    )
    delivery_date = forms.DateField(label=_("Estimated delivery"), widget=DateInput())

    def clean_delivery_date(self) -> datetime.date:
        date = self.cleaned_data["delivery_date"]
        if date < timezone.localdate():
            raise ValidationError(_("Choose a date from today on."))
        return date


class InvoiceForm(forms.Form):
    amount = money_field(_("Amount"))
    due_date = forms.DateField(label=_("Due date"), widget=DateInput())

    def clean_due_date(self) -> datetime.date:
        date = self.cleaned_data["due_date"]
        if date < timezone.localdate():
            raise ValidationError(_("Choose a date from today on."))
        return date


class DeclineForm(forms.Form):
    text = forms.CharField(
        label=_("Your answer to the merchant"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": _("Write a message before sending.")},
    )


def default_decline_text() -> str:
    return gettext(
        "Thank you for contacting us. Unfortunately we cannot help with this request, "
        "so we are declining it. We wish you the best of luck with your store."
    )
