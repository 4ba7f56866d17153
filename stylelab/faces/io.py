"""Safe image loading: any path, bytes, file object or PIL image -> one RGB PIL image.

* Formats: PNG, JPEG, WebP, GIF, BMP and TIFF only, identified by their content
  (magic bytes), never by the file name; Pillow is told to use that one reader.
  Anything else (EPS/PS, which Pillow would hand to Ghostscript, PDF, SVG, ICO,
  PSD, HEIC, text, random bytes, empty files) is refused before Pillow opens it
  (:mod:`stylelab.faces.formats`). Animated files give their first frame.
* The EXIF orientation tag is applied, so phone photos come out upright.
* Transparency (RGBA, LA, P with a transparent colour) is composited on white;
  grayscale (including 16-bit), CMYK and palette images become RGB.
* Images above ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`, 50 megapixels:
  a full-resolution 48-megapixel phone photo still loads) are refused from the
  header alone, before any pixel is decoded. Pillow's own decompression-bomb
  check is turned into the same :class:`ImageTooLargeError`.
* ``max_side``: large photos come out with their long side at most ``max_side``.
  JPEGs are decoded directly at 1/2, 1/4 or 1/8 scale (DCT scaling: the full-size
  pixels never exist) when that keeps the long side at least 3/4 of ``max_side``;
  other formats are decoded, reduced (box filter by an integer factor, or Lanczos),
  and the full-size pixels freed at once (then ``malloc_trim`` on glibc). :data:`ALIGN_MAX_SIDE` is plenty for face
  alignment; ``None`` (the default) keeps the full resolution.
* Missing, corrupt, truncated and non-image files raise an :class:`ImageLoadError`
  subclass with a one-line message saying what to do; no Pillow traceback reaches
  the user.
"""

from __future__ import annotations

import ctypes
import io
import math
import re
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError, features

from .errors import (
    CorruptImageError,
    ImageLoadError,
    ImageTooLargeError,
    UnsupportedFormatError,
)
from .formats import ACCEPTED_FORMATS, HEAD_BYTES, sniff, unsupported

#: Largest accepted image, in pixels (width * height).
DEFAULT_MAX_PIXELS = 50_000_000
#: A good ``max_side`` for photos that are only aligned and edited (a face needs far less).
ALIGN_MAX_SIDE = 4096
#: JPEG DCT scaling is used when the long side stays at least this fraction of ``max_side``.
DRAFT_SLACK = 0.75
#: After freeing a full-size decode of at least this many pixels, return memory to the system.
TRIM_PIXELS = 4_000_000

ImageSource = str | Path | bytes | bytearray | memoryview | BinaryIO | Image.Image

_FIX = "re-export it as PNG or JPEG, or use another photo"
#: Pillow names that the accepted readers report (MPO: a JPEG with extra pictures).
_READER_NAMES = (*ACCEPTED_FORMATS, "MPO")
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}
_RESIZABLE = ("L", "LA", "RGB", "RGBA", "CMYK", "I", "F")


def load_image(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS, *,
               max_side: int | None = None) -> Image.Image:
    """Load ``source`` as an upright RGB :class:`PIL.Image.Image`.

    ``source``: a file path, the encoded bytes, a binary file object, or a PIL
    image. Raises :class:`ImageTooLargeError` above ``max_pixels`` (checked on
    the header, before decoding) and an :class:`ImageLoadError` subclass for
    anything that is not a readable PNG/JPEG/WebP/GIF/BMP/TIFF image
    (:class:`NotAnImageError`, :class:`UnsupportedFormatError`,
    :class:`CorruptImageError`). ``max_side``: downscale so that the long side is
    at most this many pixels (see the module doc); ``None`` keeps the full size.
    """
    if max_side is not None and int(max_side) < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    if isinstance(source, Image.Image):
        _check_given(source)
        _check_size(source.size, max_pixels)
        _decode(source)
        orientation = _orientation(source)
        return to_rgb(_upright(_shrink(source, max_side, owned=False), orientation))
    with _open(source) as image:  # closes the file; the result is a new image
        _check_size(image.size, max_pixels)
        _draft(image, max_side)
        _decode(image)
        orientation = _orientation(image)
        return to_rgb(_upright(_shrink(image, max_side, owned=True), orientation))


def _open(source: ImageSource) -> Image.Image:
    """Identify the content, then open it lazily (header only) with that format's
    reader alone; map every failure to an :class:`ImageLoadError` subclass."""
    fp = _as_file(source)
    fmt = sniff(_head(fp))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fp, formats=[fmt])
    except Image.DecompressionBombError as err:
        raise _bomb(err) from None
    except UnidentifiedImageError:
        if fmt == "WEBP" and not features.check("webp"):
            raise UnsupportedFormatError("this installation of Pillow cannot read WebP: "
                                         f"{_FIX}") from None
        raise CorruptImageError(f"the {fmt} header is damaged: re-download or {_FIX}") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as err:
        raise CorruptImageError(f"cannot read the {fmt} image ({_one_line(err)}): "
                                f"re-download or {_FIX}") from None
    if image.format not in _READER_NAMES:  # never expected: Pillow used another reader
        image.close()
        raise unsupported(str(image.format))
    if image.width < 1 or image.height < 1:
        raise CorruptImageError(f"the image is empty (size {image.size}): {_FIX}")
    return image


def _as_file(source: ImageSource) -> str | BinaryIO:
    """A path string or a seekable binary file for :func:`PIL.Image.open`."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageLoadError(f"image file not found: {path}; check the path")
        return str(path)
    if hasattr(source, "read"):
        seekable = getattr(source, "seekable", lambda: False)()
        return source if seekable else io.BytesIO(source.read())
    raise ImageLoadError(
        f"cannot load an image from a {type(source).__name__}: give a path, bytes, "
        "a binary file object or a PIL image"
    )


def _head(fp: str | BinaryIO) -> bytes:
    """The first :data:`HEAD_BYTES` bytes; a file object is left where it was."""
    try:
        if isinstance(fp, str):
            with open(fp, "rb") as f:
                return f.read(HEAD_BYTES)
        start = fp.tell()
        head = fp.read(HEAD_BYTES)
        fp.seek(start)
        return bytes(head)
    except OSError as err:
        raise ImageLoadError(f"cannot read the file ({_one_line(err)}): check that it "
                             "exists and is readable") from None


def _check_given(image: Image.Image) -> None:
    """A PIL image not yet decoded must come from an accepted reader (EPS would run
    Ghostscript on ``load``); decoded pixels are always fine."""
    pending = isinstance(image, ImageFile.ImageFile) and bool(getattr(image, "tile", None))
    if pending and image.format not in _READER_NAMES:
        raise unsupported(str(image.format))


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLargeError.for_size(width, height, max_pixels)


def _bomb(err: Exception) -> ImageTooLargeError:
    """Pillow's decompression-bomb refusal (from the header), said plainly."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    size = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too many pixels"
    return ImageTooLargeError(f"image too large: its header claims {size}, far above the "
                              "limit (a possible decompression bomb); downscale it (e.g. to "
                              "4000 pixels on the longest side) and try again")


def _one_line(err: Exception, limit: int = 160) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _decode(image: Image.Image) -> None:
    """Decode the pixels (first frame); corrupt or truncated data -> :class:`CorruptImageError`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)
            image.load()
    except Image.DecompressionBombError as err:
        raise _bomb(err) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError) as err:
        raise CorruptImageError(
            f"the image file is truncated or corrupt ({_one_line(err)}): re-download or {_FIX}"
        ) from None


def _draft(image: Image.Image, max_side: int | None) -> None:
    """Ask the JPEG decoder for a 1/2, 1/4 or 1/8 scale decode (module doc)."""
    if not max_side or image.format not in ("JPEG", "MPO") or max(image.size) <= max_side:
        return
    long = max(image.size)
    k = next((k for k in (8, 4, 2) if math.ceil(long / k) >= DRAFT_SLACK * max_side), 1)
    if k > 1:
        width, height = image.size
        image.draft(None, (max(1, width // k), max(1, height // k)))


def _shrink(image: Image.Image, max_side: int | None, owned: bool) -> Image.Image:
    """``image`` with its long side at most ``max_side``; an ``owned`` original is freed."""
    if not max_side or max(image.size) <= max_side:
        return image
    work = image if image.mode in _RESIZABLE else to_rgb(image)
    k = math.ceil(max(image.size) / max_side)
    if max(image.size) / k >= DRAFT_SLACK * max_side:  # box-filter by k: no big temporaries
        small = work.reduce(k)
    else:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        small = work.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    small.info = dict(image.info)
    pixels = image.width * image.height
    if work is not image:
        work.close()
    if owned:
        image.close()
    del work
    if pixels >= TRIM_PIXELS:
        release_memory()
    return small


def release_memory() -> None:
    """Hand freed heap memory back to the system (glibc ``malloc_trim``; no-op elsewhere).

    A long-running server that decoded a large photo may otherwise keep the freed
    blocks in its heap (fragmentation); trimming once per large decode is cheap."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1-8); 1 when absent or unreadable."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # noqa: BLE001 - broken EXIF must not block loading
        return 1


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    """Apply the EXIF orientation tag and drop it from the result's EXIF."""
    method = _TRANSPOSE.get(orientation)
    if method is None:
        return image
    out = image.transpose(method)
    try:
        exif = out.getexif()
        exif.pop(ExifTags.Base.Orientation, None)
        out.info["exif"] = exif.tobytes()
    except Exception:  # noqa: BLE001 - metadata only
        out.info.pop("exif", None)
    return out


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency is composited on white, 16-bit gray rescaled."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _gray_to_l(image)
    if (image.mode == "P" and "transparency" in image.info) or image.mode == "PA":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _gray_to_l(image: Image.Image) -> Image.Image:
    """16/32-bit integer or float grayscale -> 8-bit 'L' (full 16-bit range kept)."""
    arr = np.asarray(image, dtype=np.float64)
    top = 1.0 if image.mode == "F" and arr.max(initial=0) <= 1.0 else (
        65535.0 if arr.max(initial=0) > 255 else 255.0)
    return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
