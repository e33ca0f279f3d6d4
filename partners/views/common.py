from django.core.exceptions import PermissionDenied
from django.http import Http404

from tenants.policy import Decision


def only(request, kind: str) -> None:
    """Pages of one side only: for other kinds of organizations they do not exist."""
    if request.organization.kind != kind:
        raise Http404


def allowed(decision: Decision) -> None:
    if not decision:
        raise PermissionDenied(decision.reason)


def htmx_target(request, template: str, *targets: str) -> str:
    """The page, or the partial named like the element htmx swaps."""
    if request.htmx and request.htmx.target in targets:
        return f"{template}#{request.htmx.target}"
    return template
