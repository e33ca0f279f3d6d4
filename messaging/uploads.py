"""What an attachment must pass, on upload and later on inbound email: size, name and content."""

import unicodedata
import zipfile
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from .models import MAX_ATTACHMENT_SIZE

# Refused whatever their content; people exchange documents, not programs.
EXECUTABLE_EXTENSIONS = {
    "app",
    "apk",
    "appx",
    "bat",
    "bin",
    "cmd",
    "com",
    "cpl",
    "dll",
    "dmg",
    "elf",
    "exe",
    "gadget",
    "hta",
    "inf",
    "ins",
    "isp",
    "jar",
    "js",
    "jse",
    "ksh",
    "lnk",
    "msc",
    "msi",
    "msp",
    "mst",
    "pif",
    "ps1",
    "ps2",
    "psc1",
    "reg",
    "run",
    "scr",
    "sct",
    "sh",
    "shb",
    "so",
    "sys",
    "vb",
    "vbe",
    "vbs",
    "ws",
    "wsc",
    "wsf",
    "wsh",
    "xbap",
}
# The first bytes of programs: Windows PE, ELF, Mach-O (32/64-bit, both byte orders, universal), scripts.
EXECUTABLE_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",
)
MAX_NAME_LENGTH = 255
# An archive that would unpack to more than this (or this many times its size) is a "ZIP bomb".
MAX_UNPACKED_SIZE = 1024 * 1024 * 1024
MAX_UNPACK_RATIO = 200


def clean_file_name(name: str) -> str:
    """The name as people will see it; refused (ValidationError) if it hides a path or control characters."""
    name = unicodedata.normalize("NFC", name or "").strip()
    if not name:
        raise ValidationError(_("A file needs a name."))
    if any(unicodedata.category(ch) in {"Cc", "Cf"} for ch in name):
        raise ValidationError(
            _("The file name %(name)s contains control characters.") % {"name": repr(name)[1:-1]}
        )
    if "/" in name or "\\" in name or name in {".", ".."} or name.startswith("."):
        raise ValidationError(_("The file name %(name)s is not allowed: use a plain name.") % {"name": name})
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            _("The file name is %(length)d characters long; the most allowed is %(max)d.")
            % {"length": len(name), "max": MAX_NAME_LENGTH}
        )
    return name


def _is_archive_bomb(upload: UploadedFile) -> bool:
    """Reads the ZIP directory only (nothing is unpacked): what the entries claim they expand to."""
    upload.seek(0)
    try:
        with zipfile.ZipFile(upload) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False  # not a readable archive: stored as the bytes it is, never opened by us
    finally:
        upload.seek(0)
    unpacked = sum(entry.file_size for entry in entries)
    return unpacked > MAX_UNPACKED_SIZE or unpacked > MAX_UNPACK_RATIO * max(upload.size, 1)


def check_upload(upload: UploadedFile) -> str:
    """Checks one uploaded file and returns its clean name; ValidationError says what is wrong with it."""
    name = clean_file_name(upload.name)
    if upload.size > MAX_ATTACHMENT_SIZE:
        raise ValidationError(_("%(name)s is larger than 10 MB. Send a smaller file.") % {"name": name})
    if upload.size == 0:
        raise ValidationError(_("%(name)s is empty.") % {"name": name})
    extension = PurePosixPath(name).suffix.lower().lstrip(".")
    if extension in EXECUTABLE_EXTENSIONS:
        raise ValidationError(_("%(name)s is a program; programs cannot be sent.") % {"name": name})
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    if head.startswith(EXECUTABLE_MAGIC):
        raise ValidationError(
            _("%(name)s contains a program, whatever its name says; programs cannot be sent.")
            % {"name": name}
        )
    if head.startswith(b"PK\x03\x04") and _is_archive_bomb(upload):
        raise ValidationError(
            _("%(name)s is an archive that unpacks to far more than its size; it cannot be sent.")
            % {"name": name}
        )
    return name
