"""The parts of an email: which one holds the reply, how it is decoded, and which are files."""

import codecs
import contextlib
import email.header
import email.message
import email.policy
import email.utils
import logging
import re

from .base import MAX_DEPTH, MAX_PARTS, Extracted, InboundFile
from .html import html_reply_split
from .text import text_reply_split

logger = logging.getLogger(__name__)


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
    """Bytes to text: the declared charset, else UTF-8, else Windows-1252 or Latin-1 (which never fails).

    A part declared UTF-8 with one broken byte keeps its other characters (replacement, not Latin-1)."""
    codec = _codec(charset)
    for candidate in dict.fromkeys(c for c in (codec, "utf-8") if c):
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode(candidate)
    if codec == "utf-8":
        return data.decode("utf-8", errors="replace")
    if codec not in (None, "cp1252"):
        return data.decode(codec, errors="replace")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


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
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        try:
            content_type = part.get_content_type()
            if part.is_multipart() and content_type != "message/rfc822":
                children = part.get_payload()
                if depth < MAX_DEPTH and isinstance(children, list):
                    stack.extend((child, depth + 1) for child in reversed(children[:MAX_PARTS]))
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
            reply, html_cut = html_reply_split("\n".join(html))
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
