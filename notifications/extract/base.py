"""What extraction returns, our marker, and the bounds that keep hostile input cheap."""

from dataclasses import dataclass

# Parley's notification emails start with "##- <text in the recipient's language> -##"; the reply is above it.
MARKER_OPEN = "##-"
MARKER_CLOSE = "-##"


@dataclass(frozen=True)
class InboundFile:
    name: str  # decoded file name (RFC 2231 / encoded-words decoded), "" if none
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Extracted:
    text: str  # the reply to post, stripped of surrounding whitespace
    cut: str  # what was removed (quoted history, signature...), as plain text; "" if nothing
    attachments: list[InboundFile]
    source: str  # "html" or "text" or "" (which part the reply came from)


# Bounds that keep hostile input cheap: nobody writes an attribution line of 400 characters.
MAX_ATTRIBUTION = 400
MAX_PARTS = 500
MAX_DEPTH = 40
MAX_HTML_DEPTH = 200
MAX_BODY_CHARS = 5_000_000
