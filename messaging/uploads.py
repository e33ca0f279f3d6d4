"""What an attachment must pass, on upload and later on inbound email: size, name and content."""

import contextlib
import io
import unicodedata
import warnings
import zipfile
import zlib
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from PIL import Image

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
# Archives inside archives are opened to count what they hold (42.zip nests five levels): this deep, this
# much read in all, and this many entries looked at; past any of these an archive cannot be checked.
MAX_ARCHIVE_DEPTH = 3
MAX_INNER_READ = 64 * 1024 * 1024
MAX_ARCHIVE_ENTRIES = 10_000
# An image is decoded by whoever opens it: past this many pixels (where Pillow refuses to open one as a
# decompression bomb) a small file becomes gigabytes of memory.
MAX_IMAGE_PIXELS = 2 * Image.MAX_IMAGE_PIXELS


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


class _Unreadable(Exception):
    """An archive that cannot be checked (too deep, too many entries, too much to read)."""


def _inner_archive(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, *, depth: int, budget: list[int]):
    """The entry's bytes if it is a ZIP itself (read within `budget`), else None; its first bytes tell."""
    if entry.file_size < 22 or entry.flag_bits & 0x1:  # the smallest ZIP; encrypted entries stay closed
        return None
    try:
        with archive.open(entry) as inner:
            if inner.read(4) != b"PK\x03\x04":
                return None
            if depth >= MAX_ARCHIVE_DEPTH or entry.file_size > budget[0]:
                raise _Unreadable
            budget[0] -= entry.file_size
            return b"PK\x03\x04" + inner.read(entry.file_size - 4)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError, zlib.error):
        return None  # an entry we cannot read is counted by the size it claims


def _unpacked_size(source, *, depth: int, budget: list[int]) -> int:
    """What an archive's entries claim they unpack to, an archive inside counted by what it holds in turn.
    Reads the directory and the first bytes of each entry (an inner archive whole, within `budget`)."""
    with zipfile.ZipFile(source) as archive:
        entries = archive.infolist()
        if len(entries) > MAX_ARCHIVE_ENTRIES:
            raise _Unreadable
        total = 0
        for entry in entries:
            size = entry.file_size
            data = _inner_archive(archive, entry, depth=depth, budget=budget)
            if data is not None:
                with contextlib.suppress(zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
                    size = max(size, _unpacked_size(io.BytesIO(data), depth=depth + 1, budget=budget))
            total += size
            if total > MAX_UNPACKED_SIZE:
                break
    return total


def _is_archive_bomb(upload: UploadedFile) -> bool:
    """Any file that is also a ZIP (a PDF or an image with one appended counts): what its entries claim they
    expand to, archives inside included; one that cannot be checked counts as a bomb. Nothing is written."""
    upload.seek(0)
    try:
        if not zipfile.is_zipfile(upload):
            return False
        unpacked = _unpacked_size(upload, depth=1, budget=[MAX_INNER_READ])
    except _Unreadable:
        return True
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, ValueError, EOFError):
        return False  # not a readable archive: stored as the bytes it is, never opened by us
    finally:
        upload.seek(0)
    return unpacked > MAX_UNPACKED_SIZE or unpacked > MAX_UNPACK_RATIO * max(upload.size, 1)


def _image_too_large(upload: UploadedFile) -> bool:
    """Whether the file is an image (any format Pillow knows) declaring more than MAX_IMAGE_PIXELS; Pillow
    reads its header only, nothing is decoded."""
    upload.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(upload) as image:
                width, height = image.size
    except Image.DecompressionBombError:  # Pillow's own limit, twice its warning's: MAX_IMAGE_PIXELS
        return True
    except Exception:  # not an image Pillow can read: stored as the bytes it is, never opened
        return False
    finally:
        upload.seek(0)
    return width * height > MAX_IMAGE_PIXELS


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
    if _is_archive_bomb(upload):
        raise ValidationError(
            _("%(name)s is an archive that unpacks to far more than its size; it cannot be sent.")
            % {"name": name}
        )
    if _image_too_large(upload):
        raise ValidationError(
            _(
                "%(name)s is an image of more than %(max)d megapixels, too large to open safely; "
                "it cannot be sent."
            )
            % {"name": name, "max": MAX_IMAGE_PIXELS // 1_000_000}
        )
    return name
