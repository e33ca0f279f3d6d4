"""Reply extraction for inbound email: the new text a person wrote above the quoted history.

Pure functions, no database: `reply_extract` takes a parsed email and returns the reply, what was cut from it
(so a person can expand it), its files and which part it came from. Mail clients quote in many ways, so the
rules are layered: the HTML quote containers of the common clients first, then line rules on text (our
marker, attribution lines, header blocks, signatures, trailing quotes) in the five languages Parley speaks.
Everything is linear in the size of the message and never raises on malformed input.
"""

from .base import MARKER_CLOSE, MARKER_OPEN, Extracted, InboundFile
from .html import html_to_text
from .mime import reply_extract
from .text import text_reply_split

__all__ = [
    "MARKER_CLOSE",
    "MARKER_OPEN",
    "Extracted",
    "InboundFile",
    "html_to_text",
    "reply_extract",
    "text_reply_split",
]
