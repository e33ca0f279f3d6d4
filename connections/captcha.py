"""The captcha on a connection request: ALTCHA (self-hosted proof of work, works offline), or Google's
reCAPTCHA v2 checkbox when both reCAPTCHA keys are configured."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


def recaptcha_configured() -> bool:
    return bool(settings.RECAPTCHA_PUBLIC_KEY and settings.RECAPTCHA_PRIVATE_KEY)


def captcha_field() -> forms.Field:
    if recaptcha_configured():
        from django_recaptcha.fields import ReCaptchaField

        return ReCaptchaField(label=_("Captcha"))
    from django_altcha import AltchaField

    # The widget's own texts, in the language of the page being rendered (built per form, not at import).
    strings = {
        "label": str(_("I'm not a robot")),
        "verifying": str(_("Verifying…")),
        "verified": str(_("Verified")),
        "error": str(_("Verification failed. Try again.")),
        "expired": str(_("Verification expired. Try again.")),
        "waitAlert": str(_("Verifying… please wait.")),
        "footer": "",
    }
    # 100,000 keeps the proof of work under a second on a phone while still costing a bot real CPU.
    return AltchaField(label=_("Captcha"), hidefooter=True, hidelogo=True, maxnumber=100_000, strings=strings)
