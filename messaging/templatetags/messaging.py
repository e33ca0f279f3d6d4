import re

from django import template
from django.template.defaultfilters import linebreaksbr, urlize
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# urlize escapes everything it does not turn into a link, so its output is safe; we only widen its rel.
_NOFOLLOW = re.compile(r' rel="nofollow"')


@register.filter(needs_autoescape=True)
def message_body(text: str, autoescape: bool = True) -> SafeString:
    """Plain text as people wrote it: escaped, line breaks kept, links clickable but not trusted."""
    linked = urlize(text, autoescape=True)
    linked = _NOFOLLOW.sub(' rel="noopener nofollow" target="_blank"', linked)
    return mark_safe(linebreaksbr(mark_safe(linked), autoescape=False))  # noqa: S308 - built from escaped text
