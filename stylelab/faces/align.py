"""FFHQ-protocol face alignment: photo -> square crop like the images StyleGAN was trained on.

The crop rectangle follows the FFHQ dataset recipe (Karras et al. 2019) on dlib's
68 landmarks: with ``e`` the eye-to-eye vector and ``m`` the vector from the eye
midpoint to the mouth-corner midpoint, the crop is the square centred at
``eye_avg + 0.1 m`` whose half-side vector is ``x = (e - flipud(m) * [-1, 1])``
normalised and scaled to ``max(2 |e|, 1.8 |m|)``; ``y`` is ``x`` turned by +90
degrees. So roll is undone and the eyes land at fixed places in the crop.

Resampling (our own, not FFHQ's code): the quad is a similarity of the output
square, so one affine matrix maps crop pixels to photo pixels. The region around
the quad is cut out and, when the crop shrinks the face, first reduced with a
Lanczos filter; the affine warp then renders at twice the output size (bicubic)
and a Lanczos resize gives the final ``size`` (anti-aliased at any scale).

Padding, where the quad leaves the photo: ``"reflect"`` (default) mirrors the
photo, blurs the mirrored band progressively (sigma 2% of the quad side) and fades
it to the photo's median colour at the band's outer edge, as FFHQ does; the
photo's own pixels are never blurred. ``"edge"`` repeats the border pixels.

Coordinates are pixel centres: ``(0, 0)`` is the centre of the top-left pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFilter

from .detect import Face, FaceDetector, default_detector
from .errors import FaceTooSmallError
from .io import ImageSource, load_image

#: Smallest accepted quad side, in photo pixels (below, the crop is mostly upscaling blur).
MIN_QUAD_SIZE = 64.0
PADDING_MODES = ("reflect", "edge")
SUPERSAMPLE = 2


@dataclass(frozen=True)
class AlignedFace:
    """An aligned crop and the geometry to map between it and the photo.

    ``image``: RGB, ``size x size``. ``quad``: (4, 2) photo pixels of the crop's
    outer corners (top-left, bottom-left, bottom-right, top-right: FFHQ order).
    ``landmarks``: (68, 2) in crop pixels; ``source_landmarks``: (68, 2) in photo
    pixels. ``source_size``: the photo's (width, height). ``n_faces``: faces found.
    """

    image: Image.Image
    quad: np.ndarray
    landmarks: np.ndarray
    source_size: tuple[int, int]
    n_faces: int
    source_landmarks: np.ndarray = field(repr=False)

    @property
    def size(self) -> int:
        return self.image.width

    def crop_to_source(self, crop_size: int | None = None) -> np.ndarray:
        """3x3 matrix: homogeneous crop pixels (of a ``crop_size`` crop, default
        :attr:`size`) -> photo pixels."""
        return quad_matrix(self.quad, crop_size or self.size)

    def source_to_crop(self, crop_size: int | None = None) -> np.ndarray:
        """3x3 matrix: photo pixels -> crop pixels (inverse of :meth:`crop_to_source`)."""
        return np.linalg.inv(self.crop_to_source(crop_size))

    def to_source(self, points: np.ndarray, crop_size: int | None = None) -> np.ndarray:
        """(N, 2) crop pixels -> (N, 2) photo pixels."""
        return apply_matrix(self.crop_to_source(crop_size), points)

    def to_crop(self, points: np.ndarray, crop_size: int | None = None) -> np.ndarray:
        """(N, 2) photo pixels -> (N, 2) crop pixels."""
        return apply_matrix(self.source_to_crop(crop_size), points)


def apply_matrix(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine/projective matrix to (N, 2) points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    out = np.c_[pts, np.ones(len(pts))] @ matrix.T
    return out[:, :2] / out[:, 2:]


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """(68, 2) landmarks -> (4, 2) FFHQ crop quad: top-left, bottom-left, bottom-right,
    top-right corners."""
    lm = np.asarray(landmarks, dtype=np.float64)
    eye_left, eye_right = lm[36:42].mean(0), lm[42:48].mean(0)
    eye_avg, eye_to_eye = (eye_left + eye_right) / 2, eye_right - eye_left
    eye_to_mouth = (lm[48] + lm[54]) / 2 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def quad_matrix(quad: np.ndarray, size: int) -> np.ndarray:
    """3x3 affine: pixel centres of a ``size`` square crop -> photo pixels.

    The crop's outer corner ``(-0.5, -0.5)`` maps to ``quad[0]``, ``(size - 0.5, -0.5)``
    to ``quad[3]`` and ``(-0.5, size - 0.5)`` to ``quad[1]``.
    """
    quad = np.asarray(quad, dtype=np.float64)
    a, b = (quad[3] - quad[0]) / size, (quad[1] - quad[0]) / size
    t = quad[0] + 0.5 * (a + b)
    return np.array([[a[0], b[0], t[0]], [a[1], b[1], t[1]], [0.0, 0.0, 1.0]])


def quad_side(quad: np.ndarray) -> float:
    """Side length of the (square) quad in photo pixels."""
    return float(np.hypot(*(np.asarray(quad)[3] - np.asarray(quad)[0])))


def align_face(
    image: Image.Image | np.ndarray | ImageSource,
    size: int = 256,
    face: Face | np.ndarray | None = None,
    *,
    detector: FaceDetector | None = None,
    padding: str = "reflect",
    min_quad: float = MIN_QUAD_SIZE,
) -> AlignedFace:
    """Detect the largest face (unless ``face`` or (68, 2) landmarks are given) and
    return its FFHQ-aligned ``size x size`` crop.

    Raises :class:`NoFaceError` when no face is found and :class:`FaceTooSmallError`
    when the quad side is below ``min_quad`` photo pixels.
    """
    if padding not in PADDING_MODES:
        raise ValueError(f"padding must be one of {PADDING_MODES}, got {padding!r}")
    if int(size) < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    photo = _as_pil(image)
    n_faces = 1
    if face is None:
        face, n_faces = (detector or default_detector()).largest_face(photo)
    landmarks = face.landmarks if isinstance(face, Face) else np.asarray(face, np.float64)
    if landmarks.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got {landmarks.shape}")
    quad = ffhq_quad(landmarks)
    if quad_side(quad) < min_quad:
        raise FaceTooSmallError(quad_side(quad), min_quad)
    crop = warp_quad(photo, quad, int(size), padding)
    crop_lm = apply_matrix(np.linalg.inv(quad_matrix(quad, int(size))), landmarks)
    return AlignedFace(crop, quad, crop_lm, photo.size, n_faces, landmarks.copy())


def _as_pil(image: Image.Image | np.ndarray | ImageSource) -> Image.Image:
    if isinstance(image, np.ndarray):
        return Image.fromarray(image).convert("RGB")
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    return load_image(image)


def warp_quad(photo: Image.Image, quad: np.ndarray, size: int,
              padding: str = "reflect") -> Image.Image:
    """Render the square ``quad`` of RGB ``photo`` as a ``size x size`` image (module doc)."""
    render = size * SUPERSAMPLE if quad_side(quad) > size else size
    shrink = max(quad_side(quad) / render, 1.0)
    border = max(0.1 * quad_side(quad), 3.0 * shrink + 3.0)
    roi = _roi(quad, border)
    work, to_work = _cut(photo, roi, shrink)
    pads = _pads(roi, photo.size, to_work)
    if any(pads):
        work = _pad(work, pads, padding, blur=0.02 * quad_side(quad) / shrink)
        to_work = np.array([[1, 0, pads[0]], [0, 1, pads[1]], [0, 0, 1]]) @ to_work
    # Output pixel centres -> work pixel centres, then to Pillow's corner-based coordinates.
    m = to_work @ quad_matrix(quad, render)
    corner = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    m = corner @ m @ np.linalg.inv(corner)
    out = work.transform((render, render), Image.Transform.AFFINE, tuple(m[:2].ravel()),
                         Image.Resampling.BICUBIC)
    return out if render == size else out.resize((size, size), Image.Resampling.LANCZOS)


def _roi(quad: np.ndarray, border: float) -> tuple[int, int, int, int]:
    """Integer box (x0, y0, x1, y1), exclusive end, around the quad plus ``border``."""
    lo = np.floor(quad.min(0) - border).astype(int)
    hi = np.ceil(quad.max(0) + border).astype(int) + 1
    return int(lo[0]), int(lo[1]), int(hi[0]), int(hi[1])


def _cut(photo: Image.Image, roi: tuple[int, int, int, int],
         shrink: float) -> tuple[Image.Image, np.ndarray]:
    """The part of ``roi`` inside the photo, reduced by ``shrink``; and the 3x3
    photo-pixel -> work-pixel matrix."""
    x0, y0 = max(roi[0], 0), max(roi[1], 0)
    x1, y1 = min(roi[2], photo.width), min(roi[3], photo.height)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)  # at least one pixel, even off-photo
    x0, y0 = min(x0, photo.width - 1), min(y0, photo.height - 1)
    w, h = max(1, round((x1 - x0) / shrink)), max(1, round((y1 - y0) / shrink))
    work = photo.resize((w, h), Image.Resampling.LANCZOS, box=(x0, y0, x1, y1))
    sx, sy = w / (x1 - x0), h / (y1 - y0)
    # work centre = (photo centre + 0.5 - x0) * s - 0.5
    to_work = np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5], [0, 0, 1]])
    return work, to_work


def _pads(roi: tuple[int, int, int, int], photo_size: tuple[int, int],
          to_work: np.ndarray) -> tuple[int, int, int, int]:
    """Work pixels to add (left, top, right, bottom) so the work image covers ``roi``."""
    w, h = photo_size
    sx, sy = to_work[0, 0], to_work[1, 1]
    return (int(np.ceil(max(0, -roi[0]) * sx)), int(np.ceil(max(0, -roi[1]) * sy)),
            int(np.ceil(max(0, roi[2] - w) * sx)), int(np.ceil(max(0, roi[3] - h) * sy)))


def _pad(work: Image.Image, pads: tuple[int, int, int, int], mode: str,
         blur: float) -> Image.Image:
    """Pad by ``pads`` (left, top, right, bottom): edge, or FFHQ-like reflect + blur + fade."""
    left, top, right, bottom = pads
    arr = np.asarray(work)
    if mode == "edge":
        return Image.fromarray(np.pad(arr, ((top, bottom), (left, right), (0, 0)), "edge"))
    img = np.pad(arr, ((top, bottom), (left, right), (0, 0)), "reflect").astype(np.float32)
    h, w = img.shape[:2]
    ys, xs = np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32)
    ramp_x = np.maximum(_ramp(left - xs, left), _ramp(xs - (w - 1 - right), right))
    ramp_y = np.maximum(_ramp(top - ys, top), _ramp(ys - (h - 1 - bottom), bottom))
    band = np.maximum(ramp_x[None, :], ramp_y[:, None])[..., None]  # 0 on the photo, 1 outside
    blurred = Image.fromarray(img.astype(np.uint8)).filter(ImageFilter.GaussianBlur(max(blur, 1)))
    img += (np.asarray(blurred, np.float32) - img) * np.clip(band * 3.0, 0.0, 1.0)
    img += (np.median(img, axis=(0, 1)) - img) * band
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))


def _ramp(dist: np.ndarray, width: int) -> np.ndarray:
    """0 up to the photo border, rising to 1 at ``width`` pixels outside it."""
    if width <= 0:
        return np.zeros_like(dist)
    return np.clip(dist / width, 0.0, 1.0)
