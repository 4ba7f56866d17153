"""Which image formats are decoded, identified by content (magic bytes), never by name.

Only PNG, JPEG, WebP, GIF, BMP and TIFF reach Pillow, and Pillow is told to use
that one format's reader (``Image.open(fp, formats=[...])``). Everything else is
refused before Pillow sees it: formats Pillow would hand to an external program or
a rarely audited parser (EPS/PS run Ghostscript; PDF, SVG, ICO, PSD, HEIC, ...)
with :class:`UnsupportedFormatError`, content that is no image at all (empty,
text, random bytes) with :class:`NotAnImageError`.
"""

from __future__ import annotations

from .errors import NotAnImageError, UnsupportedFormatError

#: Pillow format names decoded, in the order of the message shown to users.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
#: The same, as users know them.
ACCEPTED_NAMES = "PNG, JPEG, WebP, GIF, BMP or TIFF"
#: Bytes read from the start of the content to identify it.
HEAD_BYTES = 64

_DO = "re-export it as PNG or JPEG"

# (prefix, Pillow format); checked in order.
_ACCEPTED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
)
# BMP: "BM" then, at offset 14, the size of a known DIB header.
_BMP_DIB_SIZES = (12, 16, 40, 52, 56, 64, 108, 124)

# (prefix, name shown to the user) of formats recognised in order to be refused.
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%!PS-Adobe", "PostScript/EPS"),
    (b"%!", "PostScript"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"%PDF", "PDF"),
    (b"8BPS", "PSD (Photoshop)"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\x00\x00\x02\x00", "CUR"),
    (b"icns", "ICNS"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"qoif", "QOI"),
    (b"DDS ", "DDS"),
    (b"/* XPM */", "XPM"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
    (b"SIMPLE  =", "FITS"),
    (b"\x01\xda", "SGI"),
    (b"gimp xcf", "GIMP XCF"),
    (b"\x0a\x05\x01", "PCX"),
)
_FTYP_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"hevc": "HEIC", b"heim": "HEIC",
                b"heis": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF", b"avif": "AVIF",
                b"avis": "AVIF", b"jxl ": "JPEG XL"}


def sniff(head: bytes) -> str:
    """The Pillow format name of content starting with ``head`` (its first
    :data:`HEAD_BYTES` bytes, or all of it if shorter); raises
    :class:`UnsupportedFormatError` or :class:`NotAnImageError` for anything else."""
    if not head:
        raise NotAnImageError(f"not an image: the file is empty (0 bytes); upload the photo "
                              f"again or use another one ({ACCEPTED_NAMES})")
    for magic, fmt in _ACCEPTED_MAGIC:
        if head.startswith(magic):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if _is_bmp(head):
        return "BMP"
    refused = refused_format(head)
    if refused:
        raise unsupported(refused)
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").lower().startswith((b"<!doctype html", b"<html")):
        raise NotAnImageError("not an image: this is a web page (HTML), not the picture "
                              "itself; save the image itself (right-click it, Save image as)")
    raise NotAnImageError(
        f"not an image: the content is not {ACCEPTED_NAMES} (the file name does not "
        f"matter); {_DO}, or use another photo")


def unsupported(name: str) -> UnsupportedFormatError:
    """The error for a recognised but refused format ``name``."""
    return UnsupportedFormatError(
        f"unsupported image format {name}: only {ACCEPTED_NAMES} files are read "
        f"(recognised by content, not by name); {_DO}")


def refused_format(head: bytes) -> str | None:
    """A user-facing name for a known but refused format, or None if unrecognised."""
    for magic, name in _REFUSED_MAGIC:
        if head.startswith(magic):
            return name
    if head[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(head[8:12], "ISO media (HEIC/AVIF/MP4)")
    if len(head) >= 3 and head[0:1] == b"P" and head[1:2] in b"1234567" and \
            head[2:3] in b" \t\r\n":
        return "PNM (PPM/PGM/PBM)"
    return _markup_name(head)


def _is_bmp(head: bytes) -> bool:
    return len(head) >= 18 and head[:2] == b"BM" and \
        int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES


def _markup_name(head: bytes) -> str | None:
    """SVG or XML; None otherwise."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<svg", b"<!doctype svg")) or (text.startswith(b"<") and b"<svg" in text):
        return "SVG"
    if text.startswith(b"<?xml"):
        return "XML/SVG"
    return None
