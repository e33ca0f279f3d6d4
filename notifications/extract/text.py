"""Line rules on plain text: our marker, attribution lines, header blocks, signatures and trailing quotes,
in the five languages Parley speaks (and a few more)."""

import re

from .base import MARKER_CLOSE, MARKER_OPEN, MAX_ATTRIBUTION, MAX_BODY_CHARS

_QUOTE = re.compile(r"[ \t]*(?:>|[A-Za-z]{1,10}>(?=\s|$))")
_FENCE = re.compile(r"[ \t]*```")
# Words that open an attribution ("On <date>, <name> wrote:") in the languages we meet.
_ON = re.compile(r"(?:on|am|w dniu|dnia|em|no dia|le|el|il|op|den|på|at|dne)\b", re.IGNORECASE)
_VERB = re.compile(
    r"(?:\b(?:wrote|writes|schrieb|schreibt|geschrieben|napisał\(a\)|napisała|napisał|napisana|pisze|escreveu"
    r"|escreve|kirjoitti|a\s+écrit|écrit|escribió|scritto|scrisse|skrev|skriver|schreef|написала?|написав|пише)"
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
_DIGIT_OR_AT = re.compile(r"[\d@]")
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
# "Sent from my iPhone" and the like, matched on a whole line: a device or mail app must follow the words,
# so that "Sent via DHL yesterday." stays in the reply.
_DEVICE = (
    r"(?:(?:my|a|the|mein\w*|mojego|mojej|meu|minha|mi|mon|ma|mio|mijn|min|o|seu)\s+)?\[?"
    r"(?:iphone|ipad|ipod|android|mobile|mobil\w*|móvil|handy|smartphone|smartfon\w*|phone|cell\w*|celular"
    r"|telemóvel|tablet\w*|samsung|galaxy|huawei|xiaomi|motorola|pixel|blackberry|nokia|htc|xperia|outlook"
    r"|yahoo|gmail|aol|airmail|mailbox|spark|bluemail|k-9|windows|mail|e-?mail|poczt\w*|aplikacji|aplicativo"
    r"|aplicación|app|device|dispositivo|gerät|laite\w*)\b.{0,80}"
)
_DEVICE_SIGNATURE = re.compile(
    rf"(?:sent (?:from|via|with|using|by) {_DEVICE}|sent from my .{{1,80}}|from my {_DEVICE}"
    r"|(?:get|download|hanki|obtenha o|pobierz(?: aplikację)?) \[?outlook (?:for|para|dla|für)\b.{0,60}"
    rf"|von meine[mr] .{{1,60}} gesendet\.?|gesendet (?:von|mit|vom|über) {_DEVICE}"
    r"|diese nachricht wurde von .{1,80} gesendet\.?"
    rf"|wysłan[eoa] (?:z|ze|przez|za pomocą) {_DEVICE}"
    rf"|enviad[oa] (?:do|de|desde|pelo|pela|a partir do|a partir de) {_DEVICE}"
    r"|lähetetty .{0,40}(?:laitteesta|iphonesta|ipadista|puhelimesta|sovelluksella|sovelluksesta|outlookista"
    r"|sähköpostista)\.?"
    rf"|envoyé (?:de|depuis|à partir de) {_DEVICE}|inviato da {_DEVICE}|verzonden (?:vanaf|met|van) {_DEVICE}"
    rf"|verstuurd (?:vanaf|met|van) {_DEVICE}|skickat från {_DEVICE}|sendt fra {_DEVICE}"
    r"|отправлено (?:с|из) .{1,60}"  # noqa: RUF001
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
    """An attribution ("On <date>, <name> wrote:") in its many languages and shapes, wrapping joined."""
    line = line.strip()
    # Cheap gate first: an attribution ends with a colon, an address or dashes, or starts with a date.
    if not line or not (line[-1] in ":\uff1a>-*" or line[0].isdigit()):
        return False
    decorated = line.startswith("--")
    text = line.strip("-*_ \t").strip()
    if not 6 <= len(text) <= MAX_ATTRIBUTION:
        return False
    if _DATE_FIRST.match(text):
        return True
    verbs = list(_VERB.finditer(text))
    if not verbs or not _DIGIT_OR_AT.search(text):
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
    """The kind of a rule line: "D" for a signature delimiter ("-- ", "__"), "d" for decoration, or ""."""
    text = line.strip()
    if text == "--" or (len(text) >= 2 and set(text) == {"_"}):
        return "D"
    if text and set(text) <= _DELIMITER_CHARS and (len(text) >= 3 or text in ("ᐧ", "—")):
        return "d"
    return ""


def _header_key(line: str) -> str:
    if len(line) > MAX_ATTRIBUTION:
        return ""
    match = _HEADER.match(line)
    return match.group("key").lower() if match else ""


def _header_blocks(keys: list[str]) -> dict[int, int]:
    """Start -> end of each header block ("From:/Sent:/To:/Subject:"): at least three header lines, one of
    them naming the sender, at most one other line (a wrapped subject, a blank) between two of them."""
    blocks: dict[int, int] = {}
    start = last = -1
    found: set[str] = set()
    count = 0
    for k, key in enumerate([*keys, ""]):
        if key and start >= 0 and k - last <= 2:
            found.add(key)
            count, last = count + 1, k
        elif key or k - last > 2 or k == len(keys):
            if count >= 3 and found & _FROM_KEYS:
                blocks[start] = last + 1
            start, last, found, count = (k, k, {key}, 1) if key else (-1, -1, set(), 0)
    return blocks


def _history_line(line: str) -> bool:
    """A line that announces an earlier email: "-----Original Message-----", "Begin forwarded message:"."""
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
        if kinds[i] != "t" or len(lines[i]) > MAX_ATTRIBUTION:
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
                if len(joined) > MAX_ATTRIBUTION:
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
    """Whether a quote block is a quoted earlier email: it opens with an attribution or a header block, or
    it holds our marker (the quoted notification)."""
    if any(MARKER_OPEN in line and _is_marker(lines, k) for k, line in enumerate(lines)):
        return True
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
        or 0 in _header_blocks(keys)
    )


def _block_end(kinds: list[str], i: int, allowed: str) -> int:
    while i < len(kinds) and kinds[i] in allowed:
        i += 1
    return i


def _short_tail(kinds: list[str], blocks: dict[int, int], j: int, end: int) -> bool:
    """Whether what follows a rule line ("-----", "*****") up to the next certain cut is signature-sized."""
    content = 0
    for k in range(j + 1, min(end, j + 200)):
        if kinds[k] in "HDsm" or k in blocks:
            return True
        content += kinds[k] in "tqb"
        if content > 6:
            return False
    return end <= j + 200


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
        text_lines += kinds[i] != "e"
        if text_lines >= 3:
            return True
        i += 1
    return False


def text_reply_split(text: str) -> tuple[str, str]:
    """(reply, cut) of a plain-text body: the reply stops where the quoted history or the signature starts.

    Our marker ends the reply. Only when nothing stands above a quoted marker is the reply looked for below
    the quoted notification, as a person who answers at the bottom writes it."""
    lines = text[:MAX_BODY_CHARS].replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
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
    blocks = _header_blocks(keys)
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
        elif kinds[i] == "H" or i in blocks:
            stop = _block_end(kinds, i + 1, "e") if kinds[i] == "H" else i
            stop = blocks.get(stop, stop)
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
        if kind in "HDs" or j in blocks or (kind == "d" and j > top and _short_tail(kinds, blocks, j, end)):
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
