"""Hostile files, sent through the composer and fetched back: refused with a message saying why, or stored and
served so that no browser renders or runs them. A refusal saves nothing: no message, row or stored file."""

import html
import io
import struct
import zipfile
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from messaging.models import MAX_ATTACHMENT_SIZE, Attachment, Message
from messaging.services import prepare_uploads
from messaging.uploads import MAX_ARCHIVE_ENTRIES
from tests.factories import start_conversation

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


# Files ------------------------------------------------------------------------------------------------------


def zip_of(entries: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def zip_bomb(unpacked: int = 20 * MB) -> bytes:
    """Zeros deflate about a thousandfold: a few kilobytes that unpack to `unpacked` bytes."""
    return zip_of({"zeros.bin": b"\0" * unpacked})


def claiming(archive: bytes, size: int) -> bytes:
    """The archive with its directory claiming `size` bytes for its one entry (what a forged bomb does)."""
    directory = archive.rindex(b"PK\x01\x02")
    return archive[: directory + 24] + struct.pack("<I", size) + archive[directory + 28 :]


def nested(levels: int, inner: bytes) -> bytes:
    """`inner` wrapped in `levels` archives, ten copies at each level (42.zip's shape)."""
    for level in range(levels):
        inner = zip_of({f"{level}-{n}.zip": inner for n in range(10)})
    return inner


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * (min(width, 64) + 1) * min(height, 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def gif(width: int, height: int) -> bytes:
    return (
        b"GIF89a"
        + struct.pack("<HH", width, height)
        + b"\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x00;"
    )


def jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = b"\xff\xfe" + struct.pack(">H", 2 + 300) + b"c" * 300  # a segment to walk past
    frame = b"\xff\xc0\x00\x0b\x08" + struct.pack(">HH", height, width) + b"\x01\x01\x11\x00"
    return b"\xff\xd8" + app0 + comment + frame + b"\xff\xd9"


def webp(width: int, height: int) -> bytes:
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def bmp(width: int, height: int) -> bytes:
    """A BMP file header and BITMAPINFOHEADER (24 bits, top-down) declaring the size, and no pixels."""
    header = struct.pack("<IiiHHIIiiII", 40, width, -height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54) + header


def psd(width: int, height: int) -> bytes:
    """A Photoshop header (3 channels, 8 bits, RGB) declaring the size, and no pixels."""
    return struct.pack(">4sH6xHIIHH", b"8BPS", 1, 3, height, width, 8, 3) + struct.pack(">IIIH", 0, 0, 0, 0)


SVG_WITH_SCRIPT = (
    b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(document.cookie)</script></svg>'
)
HTML = b"<!doctype html><html><body><script>fetch('/o/').then(r => alert(r.status))</script></body></html>"
# Valid as a GIF (an image viewer shows it) and as JavaScript (a script tag pointing at it would run it).
GIF_JS_POLYGLOT = b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;alert(document.domain);/*" + b"\0" * 16 + b"*/"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
FIGURES = "".join(
    f"{n},{(n * 7919) % 100_003},{(n * 104_729) % 9973}.{n % 100:02d}\n" for n in range(50_000)
).encode()


# Sending ----------------------------------------------------------------------------------------------------


def url(name, organization, **kwargs):
    return reverse(f"messaging:{name}", kwargs={"org_slug": organization.slug, **kwargs})


@pytest.fixture
def conversation(connected, buyer_admin, supplier):
    return start_conversation(buyer_admin, supplier, subject="Drawings", body="Please send the drawings.")


@pytest.fixture
def send(client, supplier, supplier_admin, conversation):
    """Replies in the conversation as the supplier with these files; the response."""
    client.force_login(supplier_admin)

    def post(*files, body="Attached.", **extra):
        address = url("conversation", supplier, conversation_id=conversation.pk)
        return client.post(address, {"body": body, "files": list(files)}, **extra)

    return post


def shown(response) -> str:
    return html.unescape(response.content.decode())


def download(client, organization, attachment):
    response = client.get(url("attachment", organization, attachment_id=attachment.pk))
    body = b"".join(response.streaming_content)
    return response, body


def assert_served_as_a_download(response):
    """Nothing a browser renders or runs: a file to save, of no type it would guess at, in a sandbox."""
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert "\n" not in response["Content-Disposition"] and "\r" not in response["Content-Disposition"]


# Stored, and served harmless --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("drawing.svg", SVG_WITH_SCRIPT),
        ("photo.png", HTML),  # HTML renamed
        ("logo.gif", GIF_JS_POLYGLOT),
        ("notes.txt", b"<script>alert(1)</script> plain notes"),
        ("page.html", HTML),
        ("scan.pdf", PDF + zip_of({"readme.txt": b"a PDF that is also a ZIP"})),  # harmless polyglot
    ],
)
def test_documents_that_could_run_in_a_browser_are_stored_and_only_ever_downloaded(
    client, send, supplier, buyer, buyer_admin, name, content
):
    response = send(SimpleUploadedFile(name, content, content_type="image/svg+xml"))
    assert response.status_code == 302
    attachment = Attachment.objects.get()
    assert attachment.name == name
    client.force_login(buyer_admin)
    page = client.get(response.url.replace(supplier.slug, buyer.slug)).content.decode()
    # Listed as a link to download, never embedded (no <img>, <object> or <iframe> of it).
    link = url("attachment", buyer, attachment_id=attachment.pk)
    assert f'<a href="{link}" download>' in page
    assert f'src="{link}"' not in page and f'data="{link}"' not in page
    served, body = download(client, buyer, attachment)
    assert_served_as_a_download(served)
    assert body == content


def test_the_download_name_is_safe_even_for_a_name_stored_before_the_checks(client, send, buyer, buyer_admin):
    send(SimpleUploadedFile("plan.pdf", PDF))
    attachment = Attachment.objects.get()
    # An older row (or one written by hand) whose name holds a line break and a right-to-left override.
    Attachment.objects.filter(pk=attachment.pk).update(name='quote\r\nSet-Cookie: a=b\u202e"fdp.exe')
    client.force_login(buyer_admin)
    served, _body = download(client, buyer, attachment)
    assert_served_as_a_download(served)
    assert "Set-Cookie" not in served.headers or served.cookies.get("a") is None
    assert "\u202e" not in served["Content-Disposition"]
    assert 'filename="quoteSet-Cookie: a=b\\"fdp.exe"' in served["Content-Disposition"]


# Refused ----------------------------------------------------------------------------------------------------


ARCHIVE_REFUSAL = "is an archive that unpacks to far more than its size; it cannot be sent."
IMAGE_REFUSAL = "megapixels, too large to open safely; it cannot be sent."


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bomb.zip", zip_bomb(), ARCHIVE_REFUSAL),
        ("forged.zip", claiming(zip_of({"a.txt": b"small"}), 2**32 - 1), ARCHIVE_REFUSAL),
        ("nested.zip", nested(2, zip_bomb(2 * MB)), ARCHIVE_REFUSAL),  # each level passes, the whole does not
        ("42.zip", nested(5, zip_of({"a.txt": b"x" * 100})), ARCHIVE_REFUSAL),  # too deep to check
        ("scan.pdf", PDF + zip_bomb(), ARCHIVE_REFUSAL),  # a PDF with a bomb appended
        ("photo.jpg", jpeg(64, 64) + zip_bomb(), ARCHIVE_REFUSAL),
        ("many.zip", zip_of({f"{n}.txt": b"" for n in range(MAX_ARCHIVE_ENTRIES + 1)}), ARCHIVE_REFUSAL),
        ("huge.png", png(50_000, 50_000), IMAGE_REFUSAL),
        ("huge.gif", gif(65_535, 65_535), IMAGE_REFUSAL),
        ("huge.jpg", jpeg(65_000, 65_000), IMAGE_REFUSAL),
        ("huge.webp", webp(16_384, 16_384), IMAGE_REFUSAL),
        ("huge.bmp", bmp(30_000, 30_000), IMAGE_REFUSAL),
        ("huge.psd", psd(30_000, 30_000), IMAGE_REFUSAL),  # any format Pillow reads, not only the web's
        ("report.pdf", b"MZ\x90\x00" + PDF, "contains a program, whatever its name says"),
        ("install.sh", b"echo hi", "is a program; programs cannot be sent."),
        (
            "big.pdf",
            PDF + b"\0" * (MAX_ATTACHMENT_SIZE + 1 - len(PDF)),
            "is larger than 10 MB. Send a smaller file.",
        ),
    ],
)
def test_dangerous_files_are_refused_with_a_reason_and_nothing_is_saved(send, saved, name, content, message):
    before = saved()
    response = send(SimpleUploadedFile(name, content))
    assert response.status_code == 400
    assert f"{name} {message}" in shown(response) or (name in shown(response) and message in shown(response))
    assert saved() == before


def test_a_file_of_exactly_10_mb_is_accepted_and_one_byte_more_is_not(send, saved):
    exactly = PDF + b"\0" * (MAX_ATTACHMENT_SIZE - len(PDF))
    assert send(SimpleUploadedFile("exactly.pdf", exactly)).status_code == 302
    assert Attachment.objects.get().size == 10 * MB
    before = saved()
    response = send(SimpleUploadedFile("over.pdf", exactly + b"\0"))
    assert response.status_code == 400
    assert "over.pdf is larger than 10 MB. Send a smaller file." in shown(response)
    assert saved() == before


def test_more_files_than_a_message_may_carry_are_refused_and_none_is_saved(send, saved):
    before = saved()
    response = send(*[SimpleUploadedFile(f"{n}.pdf", PDF) for n in range(11)])
    assert response.status_code == 400
    assert "You can attach at most 10 files to a message; you chose 11." in shown(response)
    assert saved() == before


def test_one_bad_file_among_good_ones_saves_none_of_them(send, saved):
    before = saved()
    response = send(SimpleUploadedFile("a.pdf", PDF), SimpleUploadedFile("b.zip", zip_bomb()))
    assert response.status_code == 400 and "b.zip" in shown(response)
    assert saved() == before


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("letters.zip", zip_of({"letter.docx": zip_of({"word/document.xml": b"<w:document/>" * 500})})),
        ("report.zip", zip_of({"report.csv": FIGURES})),  # text packs a few times, not a thousandfold
        ("photo.png", png(4000, 3000)),
        ("photo.jpg", jpeg(8000, 6000)),
        ("photo.webp", webp(4000, 3000)),
    ],
)
def test_ordinary_archives_and_images_still_pass(send, name, content):
    assert send(SimpleUploadedFile(name, content)).status_code == 302


# Names ------------------------------------------------------------------------------------------------------


def raw_upload(client, address: str, filename: bytes, body: str = "Attached.") -> object:
    """A multipart POST written out by hand, so the file name reaches the server byte for byte."""
    boundary = "hostile-boundary"
    data = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="body"\r\n\r\n{body}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: application/pdf\r\n\r\n'
        + PDF
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.generic("POST", address, data, content_type=f"multipart/form-data; boundary={boundary}")


@pytest.mark.parametrize(
    "filename",
    [
        b"../../../etc/passwd.pdf",
        b"..\\..\\windows\\win.ini.pdf",
        b"plan\x00.exe.pdf",
        b"plan\x0bx.pdf",
        "invoice\u202efdp.exe".encode(),  # shows as "invoiceexe.pdf"
        "invoice\u202efdp.pdf".encode(),
        b"a" * 400 + b".pdf",
        b"...",
        b"..",
        b". .pdf",
        b"&#x2e;&#x2e;&#x2f;x.pdf",
    ],
)
def test_hostile_file_names_never_reach_storage_or_headers(client, send, conversation, supplier, filename):
    send()  # signs in
    before = Message.objects.count()
    response = raw_upload(client, url("conversation", supplier, conversation_id=conversation.pk), filename)
    assert response.status_code in (302, 400)
    for attachment in Attachment.objects.all():
        name = attachment.name
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert all(ch.isprintable() for ch in name)
        assert len(name) <= 255 and not name.lower().endswith(".exe")
        # Stored under a name of ours, whatever the person's name was.
        assert attachment.file.name.startswith("attachments/") and ".." not in attachment.file.name
        served, _ = download(client, supplier, attachment)
        assert_served_as_a_download(served)
    if response.status_code == 400:
        assert Message.objects.count() == before


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("..", "is not allowed: use a plain name."),
        ("...", "is not allowed: use a plain name."),
        (".htaccess", "is not allowed: use a plain name."),
        ("plan\x00.pdf", "contains control characters."),
        ("plan\r\nBcc: x@example.com.pdf", "contains control characters."),
        ("invoice\u202efdp.exe", "contains control characters."),
        ("invoice.pdf\u200b", "contains control characters."),
        ("   ", "A file needs a name."),
    ],
)
def test_names_that_come_unsanitized_by_email_are_refused_with_a_reason(name, message):
    """Names from an email's MIME headers reach the checks without the browser's or Django's clean-up."""
    from django.core.exceptions import SuspiciousFileOperation, ValidationError

    with pytest.raises((ValidationError, SuspiciousFileOperation)) as refused:
        upload = SimpleUploadedFile("placeholder.pdf", PDF)
        upload._name = name  # as it came, without the basename Django's file classes would take
        prepare_uploads([upload])
    assert message in " ".join(getattr(refused.value, "messages", [str(refused.value)]))


def test_the_reason_is_given_in_the_senders_language():
    from django.core.exceptions import ValidationError
    from django.utils import translation

    with translation.override("de"), pytest.raises(ValidationError) as refused:
        prepare_uploads([SimpleUploadedFile("huge.png", png(50_000, 50_000))])
    [message] = refused.value.messages
    assert message == (
        "huge.png ist ein Bild mit mehr als 178 Megapixeln, zu groß, um es sicher zu öffnen; "
        "es kann nicht gesendet werden."
    )
