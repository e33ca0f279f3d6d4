from anymail.inbound import AnymailInboundMessage
from anymail.signals import AnymailInboundEvent, EventType
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from tenants.decorators import organization_required

from . import selectors, services
from .forms import PreferenceForm


@require_http_methods(["GET", "POST"])
@organization_required
def preferences(request):
    """Settings > Notifications: each member chooses for themselves, in this organization."""
    current = selectors.preference_get(user=request.user, organization=request.organization)
    form = PreferenceForm(
        request.POST or None,
        initial={"messages": current.messages, "connection_requests": current.connection_requests},
    )
    if request.method == "POST" and form.is_valid():
        services.preference_update(user=request.user, organization=request.organization, **form.cleaned_data)
        messages.success(request, _("Your notification settings were saved."))
        return redirect("notifications:preferences", org_slug=request.organization.slug)
    return render(
        request, "notifications/preferences.html", {"form": form}, status=400 if form.errors else 200
    )


# A mail client's one-click unsubscribe (RFC 8058) posts without a session or CSRF token: the signed token
# in the URL is the proof, and all it can do is turn one kind of email off.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    found = services.read_unsubscribe_token(token)
    if found is None:
        raise Http404
    user_id, organization_id, topic = found
    done = False
    if request.method == "POST":
        done = services.unsubscribe(user_id=user_id, organization_id=organization_id, topic=topic) is not None
        if not done:
            raise Http404
    return render(request, "notifications/unsubscribe.html", {"done": done, "topic": topic})


class PostmarkInbound(PostmarkInboundWebhookView):
    """Postmark's inbound webhook (django-anymail). An email anymail cannot make a message of (nested deeper
    than Python's parser follows, a line break in a name) is handed on unparsed, to be refused like any
    unreadable email, instead of answering 500: the provider would send it again for hours. A reply deferred
    by its limit answers 429 with Retry-After (503 when the counter is down): Postmark tries again after 1,
    5, then every 10 minutes... for about ten hours."""

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except services.InboundDeferred as deferred:
            return HttpResponse(
                f"Deferred, try again in {deferred.retry_after} seconds: nothing was saved.\n",
                status=503 if deferred.reason == "unavailable" else 429,
                content_type="text/plain",
                headers={"Retry-After": str(deferred.retry_after)},
            )

    def esp_to_anymail_event(self, esp_event):
        try:
            return super().esp_to_anymail_event(esp_event)
        except (RecursionError, ValueError):
            message = AnymailInboundMessage()
            message.envelope_recipient = esp_event.get("OriginalRecipient")
            return AnymailInboundEvent(
                event_type=EventType.INBOUND,
                timestamp=None,
                event_id=esp_event.get("MessageID"),
                esp_event=esp_event,
                message=message,
            )
