"""Errors of the face pipeline; every message tells the user what to do.

All derive from :class:`FaceError` (a :class:`ValueError`), so an app can catch
one class and show ``str(err)`` as is (always one line)::

    FaceError
    +-- ImageLoadError            missing file, unreadable source
    |   +-- NotAnImageError       empty, text, random bytes
    |   +-- UnsupportedFormatError  SVG, EPS/PS, PDF, ICO, PSD, HEIC, ...
    |   +-- CorruptImageError     truncated or damaged PNG/JPEG/WebP/GIF/BMP/TIFF
    +-- ImageTooLargeError        over the pixel limit, refused from the header
    +-- NoFaceError               no face detected
    |   +-- ImageTooSmallError    too small or too elongated to hold a face
    +-- FaceTooSmallError         a face, but too small to align
    +-- MissingModelError         dlib or a model file is not installed
"""

from __future__ import annotations


class FaceError(ValueError):
    """Base class: a problem with the user's image or setup that the user can fix."""


class ImageLoadError(FaceError):
    """The file or bytes could not be read as an image (base of the three below)."""


class NotAnImageError(ImageLoadError):
    """The content is not an image at all (empty, text, random bytes), whatever its name."""


class UnsupportedFormatError(ImageLoadError):
    """The content is an image format that is refused (SVG, EPS, PDF, ICO, HEIC, ...).

    Only PNG, JPEG, WebP, GIF, BMP and TIFF are decoded, identified by content."""


class CorruptImageError(ImageLoadError):
    """The content starts like an accepted format but is truncated or corrupt."""


class ImageTooLargeError(FaceError):
    """The image has more pixels than allowed; refused before decoding."""

    @classmethod
    def for_size(cls, width: int, height: int, max_pixels: int) -> ImageTooLargeError:
        return cls(
            f"image too large: {width}x{height} is {width * height / 1e6:.1f} megapixels, "
            f"the limit is {max_pixels / 1e6:g}; downscale it (e.g. to 4000 pixels on "
            "the longest side) and try again"
        )


class NoFaceError(FaceError):
    """No face was detected."""

    def __init__(self, detail: str = ""):
        msg = "no face found: use a photo with one clearly visible, roughly frontal face"
        super().__init__(msg + (f" ({detail})" if detail else ""))


class ImageTooSmallError(NoFaceError):
    """The image (or its detection copy) is too small or too elongated to hold a face.

    A :class:`NoFaceError`, so code that handles "no face" handles this too."""

    def __init__(self, message: str):
        FaceError.__init__(self, message)  # a plain message, not NoFaceError's "no face found"

    @classmethod
    def for_size(cls, size: tuple[int, int], min_side: int,
                 searched: tuple[int, int] | None = None) -> ImageTooSmallError:
        """``size``: the image's (width, height); ``searched``: the detection copy's, if smaller."""
        (width, height), searched = size, tuple(searched or size)
        where = "" if searched == tuple(size) else (
            f" (searched at {searched[0]}x{searched[1]} with its long side scaled down)")
        return cls(f"image too small to hold a face: it is {width}x{height} pixels{where} "
                   f"and each side needs at least {min_side}; use a larger, less elongated "
                   "photo of the face")


class FaceTooSmallError(FaceError):
    """A face was found but is too small to align and edit."""

    def __init__(self, face_px: float, min_px: float):
        self.face_px, self.min_px = face_px, min_px
        super().__init__(
            f"face too small: its aligned crop spans only {face_px:.0f} pixels of the photo "
            f"(at least {min_px:.0f} are needed); use a closer or higher-resolution photo "
            "where the face is larger"
        )


class MissingModelError(FaceError):
    """dlib or one of its model files is not installed."""
