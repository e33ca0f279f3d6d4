"""HTML replies: cut at the quote containers of the common mail clients, then render what is left as text."""

import re
from html.parser import HTMLParser

from .base import MARKER_CLOSE, MARKER_OPEN, MAX_BODY_CHARS, MAX_HTML_DEPTH

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "wbr"}
_SKIP = {"script", "style", "title", "template", "noscript", "xml", "iframe", "object", "svg", "math"}
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
_LONE_LT = re.compile(r"<(?![A-Za-z/!?])")
_SPACES = re.compile(r"[ \t\n\r\f]+")
_OUTLOOK_BORDERS = ("border-top:solid#e1e1e1", "border-top:solid#b5c4df")
_FROM_HEADER = re.compile(r"\s*\*{0,2}(?:from|von|od|de|lähettäjä|da|från|van|fra|от)\s*\*{0,2}\s*:", re.I)


class _Events(HTMLParser):
    """A balanced stream of ("start", tag, attrs), ("end", tag), ("text", data); forgiving like a browser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.events: list[tuple] = []
        self.stack: list[str] = []
        self.text: list[str] = []
        self.dropping: list = []  # [tag, depth] of a script-like element opened past the depth limit

    def _emit(self, *events: tuple) -> None:
        if self.text:
            self.events.append(("text", "".join(self.text)))
            self.text = []
        self.events.extend(events)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropping:
            self.dropping[1] += tag == self.dropping[0]
            return
        if tag in ("p", "li") and self.stack and self.stack[-1] == tag:
            self._close(tag)
        start = ("start", tag, {k: v or "" for k, v in attrs})
        if tag in _VOID:
            self._emit(start, ("end", tag))
        elif len(self.stack) < MAX_HTML_DEPTH:
            self._emit(start)
            self.stack.append(tag)
        elif tag in _SKIP:  # deeper than any real email: what a script-like element holds is dropped
            self.dropping = [tag, 1]
        else:  # deeper than any real email: the element is kept flat
            self._emit(start, ("end", tag))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if not self.dropping and tag not in _VOID and self.stack and self.stack[-1] == tag:
            self._close(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.dropping:
            self.dropping[1] -= tag == self.dropping[0]
            if self.dropping[1] <= 0:
                self.dropping = []
        elif tag in self.stack:
            self._close(tag)
        elif tag in ("br", "p"):  # browsers read a stray </br> or </p> as a line break
            self._emit(("start", "br", {}), ("end", "br"))

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.text.append(data)

    def unknown_decl(self, data: str) -> None:
        pass

    def _close(self, tag: str) -> None:
        while self.stack:
            top = self.stack.pop()
            self._emit(("end", top))
            if top == tag:
                break

    def finish(self) -> list[tuple]:
        self.close()
        self._emit(*[("end", tag) for tag in reversed(self.stack)])
        return self.events


def _defuse(html: str) -> str:
    """Escape each "<" that cannot start a complete tag or comment.

    Python's HTMLParser rescans the rest of the document for every unterminated construct ("<a<a<a...",
    "<!--<!--..."), which is quadratic; a "<" with another "<" before its ">" is text to a person anyway.
    Every search here moves forward only, so this is linear."""
    html = _LONE_LT.sub("&lt;", html)
    out: list[str] = []
    done = 0
    next_gt = next_comment_end = 0
    i = html.find("<")
    while i != -1:
        following = html.find("<", i + 1)
        if html.startswith("<!--", i):
            if 0 <= next_comment_end < i + 4:
                next_comment_end = html.find("-->", i + 4)
            if next_comment_end >= 0:  # a whole comment: keep it, "<" inside it included
                following = html.find("<", next_comment_end + 3)
                i = following
                continue
        else:
            if 0 <= next_gt <= i:
                next_gt = html.find(">", i + 1)
            if next_gt >= 0 and (following == -1 or next_gt < following) and next_gt - i < 20_000:
                i = following
                continue
        out.append(html[done:i])
        out.append("&lt;")
        done = i + 1
        i = following
    out.append(html[done:])
    return "".join(out)


def _html_events(html: str) -> list[tuple]:
    parser = _Events()
    parser.feed(_defuse(html[:MAX_BODY_CHARS]))
    return parser.finish()


def _cut_index(events: list[tuple]) -> int:
    """Index of the first event where the quoted history (or our marker) starts; len(events) if none."""
    open_blocks: list[int] = []
    lookaheads = 100  # an <hr> or a marker is checked against the text after it; hostile HTML has thousands
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
                or (tag == "hr" and lookaheads > 0 and _FROM_HEADER.match(_text_after(events, index)))
            ):
                return index
            lookaheads -= tag == "hr"
            if tag in _BLOCK and tag not in _VOID:
                open_blocks.append(index)
        elif event[0] == "end":
            if open_blocks and events[open_blocks[-1]][1] == event[1]:
                open_blocks.pop()
        elif MARKER_OPEN in event[1] and lookaheads > 0:
            lookaheads -= 1
            following = event[1][event[1].find(MARKER_OPEN) :] + _text_after(events, index)
            if MARKER_CLOSE in following[len(MARKER_OPEN) :]:
                inner = [i for i in open_blocks if events[i][1] not in ("body", "html")]
                return inner[-1] if inner else index
    return len(events)


def _text_after(events: list[tuple], index: int, want: int = 200) -> str:
    parts, size = [], 0
    for position in range(index + 1, min(index + 200, len(events))):
        event = events[position]
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
    links: list[tuple[str, list[str]]] = []  # href and the text shown for it
    paragraphs: list[bool] = []
    for index, event in enumerate(events):
        if index == cut:
            out = _Lines()
        kind, tag = event[0], event[1]
        prefix = "> " * quote
        if kind == "text":
            if skip:
                continue
            if links:
                links[-1][1].append(tag)
            if pre:
                for number, part in enumerate(tag.replace("\r\n", "\n").split("\n")):
                    if number:
                        out.hard_break(prefix)
                    out.raw(part, prefix)
            else:  # collapse white space as a browser does, but keep &nbsp; (Outlook's empty lines)
                out.write(_SPACES.sub(" ", tag), prefix)
        elif tag in _SKIP:
            skip = skip + 1 if kind == "start" else max(skip - 1, 0)
        elif skip:
            continue
        elif kind == "start":
            attrs = event[2]
            if tag == "br":
                out.hard_break(prefix)
            elif tag == "p":
                # Outlook writes one <p class=MsoNormal> per line; other paragraphs have a blank line around.
                paragraphs.append("MsoNormal" not in attrs.get("class", ""))
                out.soft_break()
                if paragraphs[-1]:
                    out.blank()
            elif tag in ("td", "th"):
                out.write(" ", prefix)
            elif tag in _BLOCK or tag == "hr":
                out.soft_break()
            if tag == "blockquote":
                quote += 1
            elif tag == "pre":
                pre += 1
            elif tag in ("ul", "ol"):
                lists.append([tag, 0])
            elif tag == "li":
                if lists and lists[-1][0] == "ol":
                    lists[-1][1] += 1
                out.write(f"{lists[-1][1]}. " if lists and lists[-1][0] == "ol" else "- ", prefix)
            elif tag == "a":
                links.append((attrs.get("href", ""), []))
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
                href, shown = links.pop()
                if href.startswith(("http://", "https://")) and href not in "".join(shown):
                    out.write(f" ({href})", prefix)
    return reply.text(), out.text() if cut < len(events) else ""


def html_to_text(html: str) -> str:
    """Readable text of HTML: blocks and <br> become line breaks; scripts and styles vanish entirely."""
    events = _html_events(html)
    return _render(events, len(events))[0]


def html_reply_split(html: str) -> tuple[str, str]:
    events = _html_events(html)
    return _render(events, _cut_index(events))
