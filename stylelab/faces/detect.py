"""Face detection and 68-point landmarks with dlib.

dlib's HOG frontal detector (with its rotated-face filters) finds faces; the
68-point shape predictor (iBUG 300-W layout) places landmarks. When HOG finds
nothing, the CNN "mmod" detector is tried on a smaller copy (optional, slower).
Big images are searched on a copy whose longest side is :data:`DETECT_MAX_SIDE`;
boxes and landmarks are mapped back to full-resolution pixels.

Images too small or too elongated to hold a face (a side of the search copy under
:data:`MIN_SEARCH_SIDE` pixels) raise :class:`ImageTooSmallError` before dlib sees
them: dlib's CNN detector raises, or corrupts memory and kills the process, on
inputs with a side under about 10 pixels (1x1, 3x3, a 2000x10 strip, ...); the CNN
is also skipped on copies thinner than :data:`CNN_MIN_SIDE`. Any other
``RuntimeError`` from dlib becomes a :class:`NoFaceError`.

Coordinates: ``(x, y)`` in pixels of the image given, ``(0, 0)`` being the
centre of the top-left pixel (dlib's and numpy's convention).

The model files come from PyPI ``face_recognition_models`` (found on disk, never
imported) or Debian ``libdlib-data`` (``/usr/share/dlib``).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import ImageTooSmallError, MissingModelError, NoFaceError

#: Shortest side (after downscaling) a search copy needs: smaller ones cannot hold a face,
#: and dlib's detectors abort on images a few pixels wide.
MIN_SEARCH_SIDE = 32
#: Longest side of the copy that HOG searches (larger images are downscaled).
DETECT_MAX_SIDE = 1024
#: Longest side of the copy that the (slow) CNN fallback searches.
CNN_MAX_SIDE = 640
#: HOG upsamples the search copy (to find smaller faces) at most this many times (x2 each)...
MAX_UPSAMPLE = 2
#: ... and while its longest side stays within this.
MAX_UPSAMPLED_SIDE = 2048
#: The CNN runs only when its input's short side (after upsampling) is at least this;
#: below about 10 pixels dlib's CNN raises or crashes, and no face it can find fits anyway.
CNN_MIN_SIDE = 32
LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
DEBIAN_DLIB_DIR = Path("/usr/share/dlib")


@dataclass(frozen=True)
class Face:
    """One detected face. ``box``: (x0, y0, x1, y1) in image pixels;
    ``landmarks``: (68, 2) float64 ``(x, y)`` in image pixels; ``detector``: "hog" or "cnn"."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    detector: str = "hog"

    @property
    def area(self) -> float:
        """Box area in pixels."""
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, 0.0) * max(y1 - y0, 0.0)


def dlib_model_path(name: str) -> Path:
    """Path of a dlib model file (e.g. ``shape_predictor_68_face_landmarks.dat``).

    Looks in PyPI ``face_recognition_models`` (without importing it), then in
    Debian's ``/usr/share/dlib``; raises :class:`MissingModelError` saying how to install it.
    """
    candidates = []
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "models" / name)
    candidates.append(DEBIAN_DLIB_DIR / name)
    for path in candidates:
        if path.is_file():
            return path
    raise MissingModelError(
        f"dlib model file {name} not found: run `pip install face_recognition_models` "
        "(or `apt-get install libdlib-data`)"
    )


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError:
        raise MissingModelError("dlib is not installed: run `pip install dlib-bin` "
                                "(or `pip install stylelab[faces]`)") from None
    return dlib


def as_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """PIL image or (H, W, 3) / (H, W) uint8 array -> contiguous (H, W, 3) uint8 RGB."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def _downscaled(image: Image.Image | np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """An RGB uint8 copy with longest side <= ``max_side`` (Lanczos) and the factor
    (full-resolution pixels per copy pixel)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(as_rgb_array(image))
    width, height = image.size
    factor = max(width, height) / max_side
    if factor <= 1.0:
        return as_rgb_array(image), 1.0
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    return np.asarray(small), width / size[0]


class FaceDetector:
    """Lazily loads dlib's HOG detector and 68-point predictor once (thread-safe).

    ``cnn_fallback``: when HOG finds no face, try dlib's CNN detector (about
    1-3 s on a CPU). ``max_side``: longest side of the copy HOG searches.
    """

    def __init__(self, cnn_fallback: bool = True, max_side: int = DETECT_MAX_SIDE):
        self.cnn_fallback = cnn_fallback
        self.max_side = max_side
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()  # dlib detectors are not documented thread-safe
        self._hog = self._predictor = self._cnn = None

    def _load(self) -> None:
        with self._lock:
            if self._predictor is None:
                dlib = _import_dlib()
                self._hog = dlib.get_frontal_face_detector()
                self._predictor = dlib.shape_predictor(str(dlib_model_path(LANDMARKS_68)))

    def _load_cnn(self) -> Any:
        with self._lock:
            if self._cnn is None:
                dlib = _import_dlib()
                self._cnn = dlib.cnn_face_detection_model_v1(str(dlib_model_path(CNN_DETECTOR)))
            return self._cnn

    def detect(self, image: Image.Image | np.ndarray) -> list[Face]:
        """All faces in ``image`` (PIL or (H, W, 3) uint8), largest first; [] when none.

        Raises :class:`ImageTooSmallError` (a :class:`NoFaceError`) before dlib runs
        when the image is too small or too elongated to hold a face."""
        self._load()
        small, factor = _downscaled(image, self.max_side)
        size = image.size if isinstance(image, Image.Image) else image.shape[1::-1]
        if min(small.shape[:2]) < MIN_SEARCH_SIDE:  # dlib aborts on a few-pixel side
            raise ImageTooSmallError.for_size(tuple(size), MIN_SEARCH_SIDE,
                                              (small.shape[1], small.shape[0]))
        with self._run_lock:
            try:
                boxes, kind = self._hog_boxes(small), "hog"
                if not boxes and self.cnn_fallback:
                    boxes, kind = self._cnn_boxes(small), "cnn"
                faces = [self._landmarks(small, box, factor, kind) for box in boxes]
            except RuntimeError as exc:  # any other dlib refusal: no face, said plainly
                reason = (str(exc).strip().splitlines() or ["dlib error"])[0][:120]
                raise NoFaceError(f"the detector could not search this image: {reason}") from None
        return sorted(faces, key=lambda f: f.area, reverse=True)

    def largest_face(self, image: Image.Image | np.ndarray) -> tuple[Face, int]:
        """The largest face and the number of faces found; :class:`NoFaceError` when none."""
        faces = self.detect(image)
        if not faces:
            raise NoFaceError()
        return faces[0], len(faces)

    def _hog_boxes(self, arr: np.ndarray) -> list[Any]:
        """HOG at increasing upsampling (finds smaller faces) until something is found."""
        longest, upsample = max(arr.shape[:2]), 0
        while True:
            boxes = list(self._hog(arr, upsample))
            upsample += 1
            if boxes or upsample > MAX_UPSAMPLE or longest * 2**upsample > MAX_UPSAMPLED_SIDE:
                return boxes

    def _cnn_boxes(self, arr: np.ndarray) -> list[Any]:
        """CNN detections on a copy no larger than :data:`CNN_MAX_SIDE`, in ``arr`` pixels."""
        dlib = _import_dlib()
        small, factor = _downscaled(arr, CNN_MAX_SIDE)
        upsample = 1 if max(small.shape[:2]) * 2 <= CNN_MAX_SIDE else 0
        if min(small.shape[:2]) * 2**upsample < CNN_MIN_SIDE:
            return []  # too thin for any face the CNN finds, and unsafe for dlib
        boxes = []
        for det in self._load_cnn()(small, upsample):
            r = det.rect
            boxes.append(dlib.rectangle(round(r.left() * factor), round(r.top() * factor),
                                        round(r.right() * factor), round(r.bottom() * factor)))
        return boxes

    def _landmarks(self, arr: np.ndarray, box: Any, factor: float, kind: str) -> Face:
        """Run the shape predictor in ``arr`` and map box and landmarks to full-res pixels."""
        shape = self._predictor(arr, box)
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        # Copy pixel centres -> full-resolution pixel centres.
        pts = (pts + 0.5) * factor - 0.5
        x0, y0 = (box.left() + 0.5) * factor - 0.5, (box.top() + 0.5) * factor - 0.5
        x1, y1 = (box.right() + 0.5) * factor - 0.5, (box.bottom() + 0.5) * factor - 0.5
        return Face((x0, y0, x1, y1), pts, kind)


_defaults: dict[bool, FaceDetector] = {}
_default_lock = threading.Lock()


def default_detector(cnn_fallback: bool = True) -> FaceDetector:
    """The process-wide :class:`FaceDetector` (one per ``cnn_fallback``; models loaded on
    first use, once)."""
    with _default_lock:
        if cnn_fallback not in _defaults:
            _defaults[cnn_fallback] = FaceDetector(cnn_fallback=cnn_fallback)
        return _defaults[cnn_fallback]


def detect_faces(image: Image.Image | np.ndarray) -> list[Face]:
    """All faces, largest first, with the default detector (see :meth:`FaceDetector.detect`)."""
    return default_detector().detect(image)


def largest_face(image: Image.Image | np.ndarray) -> tuple[Face, int]:
    """``(largest face, number of faces)``, default detector; :class:`NoFaceError` if none."""
    return default_detector().largest_face(image)
