import re

from django import template
from django.template.defaultfilters import linebreaksbr
from django.utils.html import escape, urlizer
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# urlize escapes everything it does not turn into a link, so its output is safe; we only widen its rel.
_NOFOLLOW = re.compile(r' rel="nofollow"')
# What urlize can make a link of (its documented schemes, www., the seven original gTLDs, email addresses).
_LIKE_A_LINK = re.compile(r"https?://|www\.|@|\.(?:com|edu|gov|int|mil|net|org)", re.IGNORECASE)
# At most this many words that look like links are tried, and so linked, per message; the rest stay text:
# a message of pasted links or addresses costs about what a message of words does.
MAX_LINKS = 100


@register.filter(needs_autoescape=True)
def message_body(text: str, autoescape: bool = True) -> SafeString:
    """Plain text as people wrote it: escaped, line breaks kept, the first MAX_LINKS links clickable but not
    trusted."""
    parts: list[str] = []
    words: list[str] = []  # text between links, escaped in one go
    tried = 0
    # The words urlize itself looks at, one at a time, so that a count can stop it.
    for word in urlizer.word_split_re.split(str(text)):
        if tried < MAX_LINKS and ("." in word or "@" in word) and _LIKE_A_LINK.search(word):
            tried += 1
            linked = urlizer.handle_word(word, safe_input=False, nofollow=True, autoescape=True)
            if "<a " in linked:
                parts += [escape("".join(words)), linked]
                words = []
                continue
        words.append(word)
    parts.append(escape("".join(words)))
    linked = _NOFOLLOW.sub(' rel="noopener nofollow" target="_blank"', "".join(parts))
    # Only escape()'s output and urlize's escaped links are joined above, so this is safe to mark.
    return mark_safe(linebreaksbr(linked, autoescape=False))  # noqa: S308 # nosec B308, B703
