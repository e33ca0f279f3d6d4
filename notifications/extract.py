"""Reply extraction for inbound email: the new text a person wrote above the quoted history.

Pure functions, no database: `reply_extract` takes a parsed email and returns the reply, what was cut from it
(so a person can expand it), its files and which part it came from. Mail clients quote in many ways, so the
rules are layered: the HTML quote containers of the common clients first, then line rules on text (our
marker, attribution lines, header blocks, signatures, trailing quotes) in the five languages Parley speaks.
Everything is linear in the size of the message and never raises on malformed input.
"""

import codecs
import contextlib
import email.header
import email.message
import email.policy
import email.utils
import logging
import re
from dataclasses import dataclass
from html.parser import HTMLParser

logger = logging.getLogger(__name__)

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
_MAX_ATTRIBUTION = 400
_MAX_PARTS = 500
_MAX_DEPTH = 40
_MAX_HTML_DEPTH = 200
_MAX_BODY_CHARS = 5_000_000

# ---------------------------------------------------------------------------------------------------------
# Text rules
# ---------------------------------------------------------------------------------------------------------

_QUOTE = re.compile(r"[ \t]*(?:>|[A-Za-z]{1,10}>(?=\s|$))")
_FENCE = re.compile(r"[ \t]*```")
# Words that open an attribution ("On <date>, <name> wrote:") in the languages we meet.
_ON = re.compile(r"(?:on|am|w dniu|dnia|em|no dia|le|el|il|op|den|på|at|dne)\b", re.IGNORECASE)
_VERB = re.compile(
    r"(?:\b(?:wrote|writes|schrieb|schreibt|geschrieben|napisał\(a\)|napisała|napisał|pisze|escreveu|escreve"
    r"|kirjoitti|a\s+écrit|écrit|escribió|scritto|scrisse|skrev|skriver|schreef|написала?|написав|пише)"
    r"|写道|寫道)",
    re.IGNORECASE,
)
# "Name <mail> schrieb am <date>:", "Name kirjoitti <date>:", Apple Mail's Polish "Wiadomość napisana przez".
_VERB_FIRST = re.compile(
    r"\b(?:schrieb am|wrote on|kirjoitti|napisana przez|escreveu em|a écrit le|skrev den)\b", re.IGNORECASE
)
# Old Gmail: "2016-03-03 17:21 GMT+01:00 Name <mail>:" and "2013/7/20 Name <mail>".
_DATE_FIRST = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\s+(?:\d{1,2}:\d{2}\s*(?:GMT|UTC)\s*[+-]\d{1,2}:?\d{2}\b"
    r"|[^<>]{1,200}<\s*[^<>\s]+@[^<>\s]+\s*>\s*:?$)"
)
# Where a wrapped attribution may begin, and the tail of an address that a client wrapped onto the next line.
_START_HINT = re.compile(r"\d|.*<")
_ADDRESS_TAIL = re.compile(r"[^<\s]*>")
_HEADER = re.compile(
    r"[ \t]*\*{0,2}(?P<key>from|von|od|de|lähettäjä|da|från|van|fra|от|sent|to|cc|bcc|subject|date|reply-to"
    r"|gesendet|an|betreff|datum|kopie|antwort an|wysłano|do|temat|data|dw|kopia|enviado|enviada em|enviada"
    r"|para|assunto|lähetetty|vastaanottaja|aihe|päivämäärä|kopio|envoyé|à|objet|asunto|fecha|verzonden"
    r"|aan|onderwerp|inviato|a|oggetto|risposta|rispondi a|skickat|till|ämne|sendt|til|emne|dato"
    r"|отправлено|кому|тема|дата)[ \t]*(?:\*{0,2}[ \t]*:|:[ \t]*\*{0,2})(?:\s|$)",
    re.IGNORECASE,
)
_FROM_KEYS = {"from", "von", "od", "de", "lähettäjä", "da", "från", "van", "fra", "от"}
# "-----Original Message-----" and its siblings: dashes around a short phrase about a message.
_HISTORY_DASHES = re.compile(
    r"[ \t*]*-{2,}[ \t]*(?P<inner>[^-].{0,60}?)[ \t]*-{2,}[ \t*]*$",
)
_HISTORY_WORDS = re.compile(
    r"message|nachricht|wiadomo|mensag|mensaje|viesti|bericht|messaggio|meddelande|melding|besked|сообщени"
    r"|forward|weitergeleitet|przekazan|encaminhad|välitet|doorgestuurd|transféré|inoltrat|reenviad",
    re.IGNORECASE,
)
_FORWARD_LINE = re.compile(
    r"[ \t]*(?:begin forwarded message|anfang der weitergeleiteten nachricht"
    r"|início da mensagem (?:re)?encaminhada|początek przekazywanej wiadomości|välitetty viesti alkaa"
    r"|début du message réexpédié|comienzo del mensaje reenviado|inizio messaggio inoltrato"
    r"|begin doorgestuurd bericht)[ \t]*:?[ \t]*$",
    re.IGNORECASE,
)
_DELIMITER_CHARS = set("-_=~*+#ᐧ\u2014\u2013•")  # with the em and en dash
# "Sent from my iPhone" and the like, matched on a whole line.
_DEVICE_SIGNATURE = re.compile(
    r"(?:sent (?:from|via|with|using|by) .{1,80}"
    r"|(?:get|download) \[?outlook for (?:ios|android).{0,60}"
    r"|from my (?:iphone|ipad|ipod|android|mobile|phone|samsung|galaxy|blackberry|smartphone|tablet).{0,40}"
    r"|von meine[mr] .{1,60} gesendet\.?|gesendet (?:von|mit|vom|über) .{1,60}"
    r"|diese nachricht wurde von .{1,80} gesendet\.?"
    r"|wysłan[eoa] (?:z|ze|przez|za pomocą) .{1,60}|pobierz (?:aplikację )?outlook .{1,40}"
    r"|enviad[oa] (?:do|de|desde|pelo|pela|via|a partir do) .{1,60}|obtenha o outlook para .{1,30}"
    r"|lähetetty \S.{0,60}(?:sta|stä|lla|llä|laitteesta)\.?|hanki outlook .{1,40}"
    r"|envoyé (?:de|depuis|à partir de) .{1,60}|inviato da .{1,60}|verzonden (?:vanaf|met|van) .{1,60}"
    r"|verstuurd (?:vanaf|met|van) .{1,60}|skickat från .{1,60}|sendt fra .{1,60}|отправлено (?:с|из) .{1,60}"  # noqa: RUF001
    r"|(?:从|從)?我的.{1,30}(?:发送|傳送|發送)|发自我的.{1,30}|.{1,30}から送信)",
    re.IGNORECASE,
)


def _is_marker(lines: list[str], i: int) -> bool:
    """Our marker, possibly quoted or wrapped by the mail client over the next two lines."""
    at = lines[i].find(MARKER_OPEN)
    if at < 0:
        return False
    return MARKER_CLOSE in " ".join([lines[i][at + len(MARKER_OPEN) :], *lines[i + 1 : i + 3]])


def _is_attribution(line: str) -> bool:
    """ "On <date>, <name> wrote:" in its many languages and shapes, with the wrapping already joined."""
    decorated = line.strip().startswith("--")
    text = line.strip().strip("-*_ \t").strip()
    if not 6 <= len(text) <= _MAX_ATTRIBUTION:
        return False
    if _DATE_FIRST.match(text):
        return True
    verbs = list(_VERB.finditer(text))
    if not verbs or not any(c.isdigit() or c == "@" for c in text):
        return False
    colon = text.endswith((":", "\uff1a"))  # or the full-width colon of Chinese and Japanese
    verb_at_end = text[verbs[-1].end() :].strip() in ("", ":", "\uff1a")
    if colon and verb_at_end:
        return True
    if _ON.match(text):
        return colon or (decorated and verb_at_end)
    return colon and ("@" in text or bool(_VERB_FIRST.search(text)))


def _device_signature(line: str) -> bool:
    text = line.strip().strip("()<>*_[] \t").strip()
    return 0 < len(text) <= 120 and bool(_DEVICE_SIGNATURE.fullmatch(text))


def _delimiter(line: str) -> str:
    """ "D" for a signature delimiter ("-- ", "__"), "d" for a decorative rule line, "" otherwise."""
    text = line.strip()
    if text == "--" or (len(text) >= 2 and set(text) == {"_"}):
        return "D"
    if text and set(text) <= _DELIMITER_CHARS and (len(text) >= 3 or text in ("ᐧ", "—")):
        return "d"
    return ""


def _header_key(line: str) -> str:
    if len(line) > _MAX_ATTRIBUTION:
        return ""
    match = _HEADER.match(line)
    return match.group("key").lower() if match else ""


def _header_block(lines: list[str], keys: list[str], i: int) -> int:
    """End of the header block ("From:/Sent:/To:/Subject:") starting at line i, or 0 if there is none."""
    if not keys[i]:
        return 0
    found, end, j, gap = [keys[i]], i + 1, i + 1, 0
    while j < len(lines) and gap <= 1:
        if keys[j]:
            found.append(keys[j])
            end, gap = j + 1, 0
        else:
            gap += 1
        j += 1
    if len(found) >= 3 and _FROM_KEYS.intersection(found):
        return end
    return 0


def _history_line(line: str) -> bool:
    """ "-----Original Message-----", "---------- Forwarded message ---------", "Begin forwarded message:"."""
    if len(line) > 200:
        return False
    match = _HISTORY_DASHES.match(line)
    if match and _HISTORY_WORDS.search(match.group("inner")) and MARKER_OPEN not in line:
        return True
    return bool(_FORWARD_LINE.match(line))


def _attribution_spans(lines: list[str], kinds: list[str]) -> dict[int, int]:
    """Start -> end of every attribution, joining ones that the mail client wrapped over up to five lines."""
    spans: dict[int, int] = {}
    i = 0
    while i < len(lines):
        if kinds[i] != "t" or len(lines[i]) > _MAX_ATTRIBUTION:
            i += 1
            continue
        if _is_attribution(lines[i]):
            spans[i] = i + 1
            i += 1
            continue
        text = lines[i].strip()
        if _ON.match(text) or _START_HINT.match(text) or _VERB_FIRST.search(text):
            joined, blanks = text, 0
            for j in range(i + 1, min(i + 6, len(lines))):
                part = lines[j].strip()
                if not part:
                    blanks += 1
                    if blanks > 1:
                        break
                    continue
                closing = kinds[j] == "q" and len(part) <= 40 and part.endswith(":")
                if (kinds[j] != "t" and not closing) or (
                    _is_attribution(part) and not _ADDRESS_TAIL.match(part)
                ):
                    break
                joined = f"{joined} {part}"
                if len(joined) > _MAX_ATTRIBUTION:
                    break
                if _is_attribution(joined):
                    spans[i] = j + 1
                    break
            if i in spans:
                i = spans[i]
                continue
        i += 1
    return spans


def _classify(lines: list[str]) -> list[str]:
    """One letter per line: e(mpty) q(uote) m(arker) H(istory line) D/d (delimiters) s(ignature) t(ext)."""
    kinds = []
    fenced = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
        if not line.strip():
            kinds.append("e")
        elif fenced or _FENCE.match(line):
            kinds.append("t")
        elif MARKER_OPEN in line and _is_marker(lines, i):
            kinds.append("m")
        elif _QUOTE.match(line):
            kinds.append("q")
        elif _history_line(line):
            kinds.append("H")
        elif delimiter := _delimiter(line):
            kinds.append(delimiter)
        elif len(line) <= 200 and _device_signature(line):
            kinds.append("s")
        else:
            kinds.append("t")
    # A device signature stands on its own; a sentence that merely starts like one has text on both sides.
    for i, kind in enumerate(kinds):
        if kind == "s" and 0 < i < len(kinds) - 1 and kinds[i - 1] == "t" and kinds[i + 1] == "t":
            kinds[i] = "t"
    return kinds


def _dequote(line: str) -> str:
    match = _QUOTE.match(line)
    rest = line[match.end() :] if match else line
    return rest[1:] if rest.startswith(" ") else rest


def _quoted_history(lines: list[str]) -> bool:
    """Whether a quote block is a quoted earlier email (it opens with an attribution or a header block)."""
    inner = [_dequote(line) for line in lines[:12]]
    first = next((i for i, line in enumerate(inner) if line.strip()), None)
    if first is None:
        return False
    inner = inner[first:]
    kinds = ["t" if line.strip() else "e" for line in inner]
    keys = [_header_key(line) for line in inner]
    return bool(
        _attribution_spans(inner[:6], kinds[:6]).get(0)
        or _history_line(inner[0])
        or _header_block(inner, keys, 0)
    )


def _block_end(kinds: list[str], i: int, allowed: str) -> int:
    while i < len(kinds) and kinds[i] in allowed:
        i += 1
    return i


def _interleaved(kinds: list[str], start: int, end: int) -> bool:
    """After an attribution: a quote answered by text that goes on (more quotes, or lines) is a reply."""
    i = _block_end(kinds, start, "e")
    if i >= end or kinds[i] != "q":
        return False
    i = _block_end(kinds, i, "qe")
    text_lines = 0
    while i < end:
        if kinds[i] == "q":
            return text_lines > 0
        if kinds[i] != "e":
            text_lines += 1
        i += 1
    return text_lines >= 3


def text_reply_split(text: str) -> tuple[str, str]:
    """(reply, cut) of a plain-text body: the reply stops where the quoted history or the signature starts.

    Our marker ends the reply. Only when nothing stands above a quoted marker is the reply looked for below
    the quoted notification, as a person who answers at the bottom writes it."""
    lines = text[:_MAX_BODY_CHARS].replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    kinds = _classify(lines)
    reply, cut = _split(lines, list(kinds))
    if not reply and any(kind == "m" and _QUOTE.match(line) for line, kind in zip(lines, kinds, strict=True)):
        kinds = [
            "q" if kind == "m" and _QUOTE.match(line) else kind
            for line, kind in zip(lines, kinds, strict=True)
        ]
        reply, cut = _split(lines, kinds)
    return reply, cut


def _split(lines: list[str], kinds: list[str]) -> tuple[str, str]:
    spans = _attribution_spans(lines, kinds)
    for start, stop in spans.items():
        kinds[start:stop] = ["b"] * (stop - start)
    keys = [_header_key(line) if kind == "t" else "" for line, kind in zip(lines, kinds, strict=True)]
    keep = [True] * len(lines)
    end = next((i for i, kind in enumerate(kinds) if kind == "m"), len(lines))

    # History at the very top (a forward, or a bottom-posted reply): drop it and read on.
    i = 0
    while i < end:
        i = _block_end(kinds, i, "e")
        if i >= end:
            break
        if i in spans:
            stop = spans[i]
            after = _block_end(kinds, stop, "e")
            if after < end and kinds[after] == "q":
                stop = _block_end(kinds, after, "qe")
        elif kinds[i] == "H" or _header_block(lines, keys, i):
            stop = _block_end(kinds, i + 1, "e") if kinds[i] == "H" else i
            stop = _header_block(lines, keys, stop) or stop
        elif kinds[i] == "q" and _quoted_history(lines[i : _block_end(kinds, i, "q")]):
            stop = _block_end(kinds, i, "qe")
        else:
            break
        keep[i:stop] = [False] * (stop - i)
        i = stop
    top = i

    # The first line that certainly starts what is not the reply: history, signature delimiter, device line.
    for j in range(top, end):
        kind = kinds[j]
        if kind in "HDs" or (kind == "t" and keys[j] and _header_block(lines, keys, j)):
            end = j
            break
        if kind == "d" and j > top:
            tail = next(
                (k for k in range(j + 1, end) if kinds[k] in "HDsm" or _header_block(lines, keys, k)), end
            )
            if sum(1 for k in range(j + 1, tail) if kinds[k] in "tqb") <= 6:
                end = j
                break

    # Attributions: cut at the first one not followed by an interleaved answer; drop the others' lines.
    for start in sorted(spans):
        if start < top or start >= end:
            continue
        if not _interleaved(kinds, spans[start], end):
            end = start
            break
        keep[start : spans[start]] = [False] * (spans[start] - start)

    # A quote block ending the email, after some text, is the history the client appended.
    last_text = next((k for k in range(end - 1, top - 1, -1) if keep[k] and kinds[k] not in "qe"), None)
    if last_text is not None and any(kinds[k] == "q" for k in range(last_text + 1, end)):
        end = last_text + 1

    reply = "\n".join(line for line, kept in zip(lines[:end], keep[:end], strict=True) if kept)
    chunks, chunk = [], []
    for k, line in enumerate(lines):
        if k >= end or not keep[k]:
            chunk.append(line)
        elif chunk:
            chunks.append("\n".join(chunk).strip())
            chunk = []
    chunks.append("\n".join(chunk).strip())
    return reply.strip(), "\n\n".join(c for c in chunks if c)


# ---------------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "wbr"}
_SKIP = {"script", "style", "title", "template", "noscript", "xml", "iframe", "object", "svg", "math", "head"}
_BLOCK = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "li", "main", "nav", "ol", "p", "pre",
    "section", "table", "tr", "ul", "body", "html",
}  # fmt: skip
# The containers in which mail clients put the quoted history (or the signature that precedes it).
_CUT_CLASSES = {
    "gmail_quote", "gmail_quote_container", "gmail_attr", "gmail_signature", "moz-cite-prefix",
    "moz-signature", "moz-forward-container",
}  # fmt: skip
_CUT_IDS = {
    "appendonsend", "divRplyFwdMsg", "x_appendonsend", "x_divRplyFwdMsg", "Signature", "AppleMailSignature",
    "ms-outlook-mobile-signature", "mail-editor-reference-message-container",
}  # fmt: skip
_SPACES = re.compile(r"[ \t\n\r\f]+")
_OUTLOOK_BORDERS = ("border-top:solid#e1e1e1", "border-top:solid#b5c4df")
_FROM_HEADER = re.compile(r"\s*\*{0,2}(?:from|von|od|de|lähettäjä|da|från|van|fra|от)\s*\*{0,2}\s*:", re.I)


class _Events(HTMLParser):
    """A balanced stream of ("start", tag, attrs), ("end", tag), ("text", data); forgiving like a browser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and "head" in self.stack:
            self._close("head")
        if tag in ("p", "li") and self.stack and self.stack[-1] == tag:
            self._close(tag)
        self.events.append(("start", tag, {k: v or "" for k, v in attrs}))
        if tag in _VOID:
            self.events.append(("end", tag))
        elif len(self.stack) < _MAX_HTML_DEPTH:
            self.stack.append(tag)
        else:  # deeper than any real email: the element is kept flat, closed at once
            self.events.append(("end", tag))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and self.stack and self.stack[-1] == tag:
            self._close(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            self._close(tag)
        elif tag in ("br", "p"):  # browsers read a stray </br> or </p> as a line break
            self.events.extend([("start", "br", {}), ("end", "br")])

    def handle_data(self, data: str) -> None:
        self.events.append(("text", data))

    def unknown_decl(self, data: str) -> None:
        pass

    def _close(self, tag: str) -> None:
        while self.stack:
            top = self.stack.pop()
            self.events.append(("end", top))
            if top == tag:
                break

    def finish(self) -> list[tuple]:
        self.close()
        while self.stack:
            self.events.append(("end", self.stack.pop()))
        return self.events


def _html_events(html: str) -> list[tuple]:
    parser = _Events()
    parser.feed(html[:_MAX_BODY_CHARS])
    return parser.finish()


def _cut_index(events: list[tuple]) -> int:
    """Index of the first event where the quoted history (or our marker) starts; len(events) if none."""
    open_blocks: list[int] = []
    for index, event in enumerate(events):
        if event[0] == "start":
            tag, attrs = event[1], event[2]
            classes = set(attrs.get("class", "").split())
            style = "".join(attrs.get("style", "").split()).lower()
            if (
                classes & _CUT_CLASSES
                or "yahoo_quoted" in attrs.get("class", "")
                or attrs.get("id", "") in _CUT_IDS
                or (tag == "blockquote" and attrs.get("type", "").lower() == "cite")
                or any(border in style for border in _OUTLOOK_BORDERS)
                or (tag == "hr" and _FROM_HEADER.match(_text_after(events, index)))
            ):
                return index
            if tag in _BLOCK and tag not in _VOID:
                open_blocks.append(index)
        elif event[0] == "end":
            if open_blocks and events[open_blocks[-1]][1] == event[1]:
                open_blocks.pop()
        elif MARKER_OPEN in event[1]:
            following = event[1][event[1].find(MARKER_OPEN) :] + _text_after(events, index)
            if MARKER_CLOSE in following[len(MARKER_OPEN) :]:
                inner = [i for i in open_blocks if events[i][1] not in ("body", "html")]
                return inner[-1] if inner else index
    return len(events)


def _text_after(events: list[tuple], index: int, want: int = 200) -> str:
    parts, size = [], 0
    for event in events[index + 1 : index + 200]:
        if event[0] == "text":
            parts.append(event[1])
            size += len(event[1])
            if size >= want:
                break
    return " ".join(" ".join(parts).split())


class _Lines:
    """Text output with block-level line breaks and a quote prefix for generic <blockquote>."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.prefix = ""

    def write(self, text: str, prefix: str) -> None:
        if not self.current:
            self.prefix = prefix
            text = text.lstrip(" ")
        elif text.startswith(" ") and self.current[-1].endswith(" "):
            text = text[1:]
        if text:
            self.current.append(text)

    def raw(self, text: str, prefix: str) -> None:
        if text:
            if not self.current:
                self.prefix = prefix
            self.current.append(text)

    def soft_break(self) -> None:
        if self.current:
            self.hard_break(self.prefix)

    def hard_break(self, prefix: str) -> None:
        line = "".join(self.current).replace("\xa0", " ").rstrip()
        self.prefix = self.prefix if self.current else prefix
        self.lines.append(f"{self.prefix}{line}" if line else self.prefix.rstrip())
        self.current = []

    def blank(self) -> None:
        self.soft_break()
        if self.lines and self.lines[-1]:
            self.lines.append("")

    def text(self) -> str:
        self.soft_break()
        out: list[str] = []
        for line in self.lines:
            if line or (out and out[-1]):
                out.append(line)
        return "\n".join(out).strip()


def _render(events: list[tuple], cut: int) -> tuple[str, str]:
    """Text of the events before `cut`, and of those from it on (one pass, so nesting state carries over)."""
    reply = out = _Lines()
    skip = pre = quote = 0
    lists: list[list] = []
    links: list[str] = []
    paragraphs: list[bool] = []
    for index, event in enumerate(events):
        if index == cut:
            out = _Lines()
        kind, tag = event[0], event[1]
        if kind == "text":
            if skip:
                continue
            prefix = "> " * quote
            if pre:
                for number, part in enumerate(tag.replace("\r\n", "\n").split("\n")):
                    if number:
                        out.hard_break(prefix)
                    out.raw(part, prefix)
            else:  # collapse white space as a browser does, but keep &nbsp; (Outlook's empty lines)
                out.write(_SPACES.sub(" ", tag), prefix)
            continue
        if tag in _SKIP:
            skip = skip + 1 if kind == "start" else max(skip - 1, 0)
            continue
        if skip:
            continue
        if kind == "start":
            attrs = event[2]
            if tag == "br":
                out.hard_break("> " * quote)
            elif tag == "p":
                # Outlook writes one <p class=MsoNormal> per line; other paragraphs have a blank line around.
                paragraphs.append("MsoNormal" not in attrs.get("class", ""))
                out.blank() if paragraphs[-1] else out.soft_break()
            elif tag in ("td", "th"):
                out.write(" ", "> " * quote)
            elif tag in _BLOCK or tag == "hr":
                out.soft_break()
            if tag == "blockquote":
                quote += 1
            elif tag == "pre":
                pre += 1
            elif tag in ("ul", "ol"):
                lists.append([tag, 0])
            elif tag == "li":
                bullet = "- "
                if lists and lists[-1][0] == "ol":
                    lists[-1][1] += 1
                    bullet = f"{lists[-1][1]}. "
                out.write(bullet, "> " * quote)
            elif tag == "a":
                links.append(attrs.get("href", ""))
        else:
            if tag == "p" and paragraphs and paragraphs.pop():
                out.blank()
            elif tag in _BLOCK:
                out.soft_break()
            if tag == "blockquote":
                quote = max(quote - 1, 0)
            elif tag == "pre":
                pre = max(pre - 1, 0)
            elif tag in ("ul", "ol") and lists:
                lists.pop()
            elif tag == "a" and links:
                href = links.pop()
                shown = "".join(out.current)
                if href.startswith(("http://", "https://")) and href not in shown:
                    out.write(f" ({href})", "> " * quote)
    if cut >= len(events):
        return reply.text(), ""
    return reply.text(), out.text()


def html_to_text(html: str) -> str:
    """Readable text of HTML: blocks and <br> become line breaks; scripts and styles vanish entirely."""
    events = _html_events(html)
    return _render(events, len(events))[0]


def _html_reply_split(html: str) -> tuple[str, str]:
    events = _html_events(html)
    return _render(events, _cut_index(events))


# ---------------------------------------------------------------------------------------------------------
# MIME
# ---------------------------------------------------------------------------------------------------------

# Parts that describe the message rather than carry a file a person attached.
_NOT_FILES = {
    "message/delivery-status", "message/global-delivery-status", "message/disposition-notification",
    "message/feedback-report", "text/rfc822-headers", "application/pgp-signature",
    "application/pgp-encrypted", "application/pkcs7-signature", "application/x-pkcs7-signature",
}  # fmt: skip
# Codecs that Python accepts as a charset name but that are no mail charset (and would decode escapes).
_NOT_CHARSETS = {"unicode_escape", "raw_unicode_escape", "idna", "punycode", "undefined", "utf_7"}
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        info = codecs.lookup(name.strip().strip("\"'"))
    except (LookupError, ValueError):
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name.replace("-", "_") in _NOT_CHARSETS:
        return None
    # Mail labelled Latin-1 or ASCII is most often Windows-1252 (curly quotes in 0x80-0x9F), as browsers know.
    return "cp1252" if info.name in ("latin-1", "iso8859-1", "ascii") else info.name


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to text: the declared charset, else UTF-8, else Windows-1252, else Latin-1 (never fails)."""
    codec = _codec(charset)
    for candidate in (codec, "utf-8", "cp1252"):
        if candidate:
            try:
                return data.decode(candidate)
            except (UnicodeDecodeError, LookupError):
                continue
    if codec in (None, "utf-8"):
        return data.decode("utf-8", errors="replace") if b"\xc3" in data else data.decode("latin-1")
    return data.decode(codec, errors="replace")


def _unflow(text: str, delsp: bool) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (ending in a space) of the same quote depth."""
    out: list[str] = []
    paragraph: str | None = None
    depth_of = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        content = content[1:] if content.startswith(" ") else content  # space-stuffing
        if paragraph is not None and depth != depth_of:
            out.append(_quote_line(depth_of, paragraph))
            paragraph = None
        paragraph = content if paragraph is None else paragraph + content
        depth_of = depth
        if content.endswith(" ") and content != "-- ":
            if delsp:
                paragraph = paragraph[:-1]
            continue
        out.append(_quote_line(depth, paragraph))
        paragraph = None
    if paragraph is not None:
        out.append(_quote_line(depth_of, paragraph))
    return "\n".join(out)


def _quote_line(depth: int, text: str) -> str:
    return f"{'>' * depth} {text}" if depth and text else ">" * depth + text


def _part_text(part: email.message.Message) -> str:
    """The decoded text of a text/* part: transfer encoding, charset and format=flowed undone."""
    payload = part.get_payload()
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    # A message built from str (not parsed from bytes) already holds text; the email package shows bytes
    # it could not decode as U+FFFD here, so those take the bytes path below.
    if (
        isinstance(payload, str)
        and not payload.isascii()
        and "\ufffd" not in payload
        and encoding not in ("base64", "quoted-printable")
    ):
        text = payload
    else:
        data = part.get_payload(decode=True) or b""
        charset = part.get_content_charset()
        if not charset and part.get_content_type() == "text/html":
            match = _META_CHARSET.search(data[:4096])
            charset = match.group(1).decode("ascii") if match else None
        text = _decode_bytes(data, charset)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == "text/plain" and str(part.get_param("format") or "").lower() == "flowed":
        text = _unflow(text, str(part.get_param("delsp") or "").lower() == "yes")
    return text


def _file_name(part: email.message.Message) -> str:
    """The attachment's name, decoded, without any folder a sender put in front of it."""
    try:
        name = part.get_filename() or part.get_param("name") or ""
    except Exception:  # a malformed parameter must not lose the file
        name = ""
    if isinstance(name, tuple):  # an RFC 2231 value the email package left undecoded
        name = email.utils.collapse_rfc2231_value(name)
    name = str(name)
    if "=?" in name:
        with contextlib.suppress(Exception):  # a broken encoded-word stays as it came
            name = str(email.header.make_header(email.header.decode_header(name)))
    # A Windows path (old clients sent one) keeps its last part; a slash, as in "55/2024.pdf", is no folder.
    name = name.rsplit("\\", 1)[-1].replace("/", "_")
    return "".join(c for c in name if c.isprintable()).strip()


def _attachment(part: email.message.Message, content_type: str) -> InboundFile:
    if content_type == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        try:
            data = inner.as_bytes() if isinstance(inner, email.message.Message) else b""
        except Exception:
            data = b""
        subject = " ".join(
            str(inner.get("Subject", "") if isinstance(inner, email.message.Message) else "").split()
        )
        name = _file_name(part) or f"{subject[:80] or 'message'}.eml"
        return InboundFile(name=name, content_type=content_type, data=data)
    data = part.get_payload(decode=True)
    return InboundFile(
        name=_file_name(part), content_type=content_type, data=data if isinstance(data, bytes) else b""
    )


def _walk(message: email.message.Message) -> tuple[list[str], list[str], list[InboundFile]]:
    """HTML body parts, plain-text body parts and files, in order, without entering attached emails."""
    html: list[str] = []
    plain: list[str] = []
    files: list[InboundFile] = []
    stack = [(message, 0)]
    seen = 0
    while stack and seen < _MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        try:
            content_type = part.get_content_type()
            if part.is_multipart() and content_type != "message/rfc822":
                children = part.get_payload()
                if depth < _MAX_DEPTH and isinstance(children, list):
                    stack.extend((child, depth + 1) for child in reversed(children[:_MAX_PARTS]))
                continue
            if content_type in _NOT_FILES:
                continue
            disposition = (part.get_content_disposition() or "").lower()
            if (
                content_type in ("text/plain", "text/html")
                and disposition != "attachment"
                and not _file_name(part)
            ):
                (html if content_type == "text/html" else plain).append(_part_text(part))
            else:
                files.append(_attachment(part, content_type))
        except Exception:  # one broken part must not cost the others
            logger.info("Skipped an unreadable MIME part", exc_info=True)
    return html, plain, files


def reply_extract(message: email.message.Message) -> Extracted:
    """The reply a person wrote in an inbound email, without quoted history or signature, and its files.

    The HTML body is read first (the mail clients mark their quotes there), the plain-text body when there
    is no HTML or the HTML leaves nothing. Never raises: an unreadable message gives empty text.
    """
    try:
        html, plain, files = _walk(message)
    except Exception:
        logger.warning("Could not read an inbound email", exc_info=True)
        return Extracted(text="", cut="", attachments=[], source="")
    result = Extracted(text="", cut="", attachments=files, source="")
    try:
        if html:
            reply, html_cut = _html_reply_split("\n".join(html))
            text, text_cut = text_reply_split(reply)
            cut = "\n\n".join(part for part in (text_cut, html_cut) if part)
            result = Extracted(text=text, cut=cut, attachments=files, source="html")
        if plain and not result.text:
            text, cut = text_reply_split("\n".join(plain))
            if text or not html:
                result = Extracted(text=text, cut=cut, attachments=files, source="text")
    except Exception:
        logger.warning("Could not extract the reply of an inbound email", exc_info=True)
    return result
