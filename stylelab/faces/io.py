"""Safe image loading: any path, bytes, file object or PIL image -> one RGB PIL image.

* Formats: whatever Pillow decodes (PNG, JPEG, WebP, ...); animated files give
  their first frame.
* The EXIF orientation tag is applied, so phone photos come out upright.
* Transparency (RGBA, LA, P with a transparent colour) is composited on white;
  grayscale (including 16-bit), CMYK and palette images become RGB.
* Images above ``max_pixels`` (default :data:`DEFAULT_MAX_PIXELS`, 50 megapixels:
  a full-resolution 48-megapixel phone photo still loads) are refused from the
  header alone, before any pixel is decoded. Pillow's own decompression-bomb
  check is turned into the same :class:`ImageTooLargeError`.
* Missing, corrupt, truncated and non-image files raise :class:`ImageLoadError`
  with a message saying what to do; no Pillow traceback reaches the user.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError, ImageTooLargeError

#: Largest accepted image, in pixels (width * height).
DEFAULT_MAX_PIXELS = 50_000_000

ImageSource = str | Path | bytes | bytearray | memoryview | BinaryIO | Image.Image

_FIX = "re-export it as PNG or JPEG, or use another photo"


def load_image(source: ImageSource, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Load ``source`` as an upright RGB :class:`PIL.Image.Image`.

    ``source``: a file path, the encoded bytes, a binary file object, or a PIL
    image. Raises :class:`ImageTooLargeError` above ``max_pixels`` (checked on
    the header, before decoding) and :class:`ImageLoadError` for anything that
    is not a readable image.
    """
    if isinstance(source, Image.Image):
        _check_size(source.size, max_pixels)
        _decode(source)
        return to_rgb(_upright(source))
    with _open(source) as image:  # closes the file; the result is a new image
        _check_size(image.size, max_pixels)
        _decode(image)
        return to_rgb(_upright(image))


def _open(source: ImageSource) -> Image.Image:
    """Open lazily (header only); map every failure to :class:`ImageLoadError`."""
    fp = _as_file(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fp)
    except Image.DecompressionBombError as err:
        raise _bomb(err) from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"not an image file (or a format Pillow cannot read): {_FIX}") \
            from None
    except (OSError, ValueError, SyntaxError) as err:
        raise ImageLoadError(f"cannot read the image ({err}): {_FIX}") from None
    if image.width < 1 or image.height < 1:
        raise ImageLoadError(f"the image is empty (size {image.size}): {_FIX}")
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


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageTooLargeError.for_size(width, height, max_pixels)


def _bomb(err: Exception) -> ImageTooLargeError:
    return ImageTooLargeError(f"image too large: Pillow refuses it as a possible decompression "
                              f"bomb ({err}); downscale it and try again")


def _decode(image: Image.Image) -> None:
    """Decode the pixels (first frame); corrupt or truncated data -> :class:`ImageLoadError`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.seek(0)
            image.load()
    except Image.DecompressionBombError as err:
        raise _bomb(err) from None
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise ImageLoadError(
            f"the image file is truncated or corrupt ({err}): re-download or {_FIX}"
        ) from None


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a malformed EXIF block is ignored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # noqa: BLE001 - broken EXIF must not block loading
        return image


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
