"""Soft face-region masks from 68 landmarks (e.g. to localise StyleSpace channels).

Regions (all relative to the face's own axes, so they follow roll):

* ``mouth``: outer lip contour (48-59), grown by 8% of the inter-ocular distance (IOD);
* ``eyes``: both eye contours (36-47), grown by 15% IOD;
* ``brows``: a band of 20% IOD around each brow line (17-21, 22-26);
* ``nose``: convex hull of the nose points (27-35), grown by 10% IOD;
* ``face``: convex hull of the jaw (0-16) and brows (17-26);
* ``hair``: above the brows up to the image top, over the jaw width widened by 30% on
  each side, minus ``face`` (it includes the forehead: landmarks do not see the hairline);
* ``background``: everything outside ``face`` and ``hair``.

Polygons are rasterised with :mod:`PIL.ImageDraw` and blurred by ``blur * size`` pixels.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter

REGIONS = ("mouth", "eyes", "brows", "nose", "hair", "face", "background")


def convex_hull(points: np.ndarray) -> np.ndarray:
    """(N, 2) points -> (M, 2) convex hull, counter-clockwise (monotone chain)."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64)))
    if len(pts) < 3:
        return np.array(pts)

    def half(seq: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for p in seq:
            while len(out) >= 2 and _cross(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    return np.array(half(pts) + half(pts[::-1]))


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def grow(polygon: np.ndarray, margin: float) -> np.ndarray:
    """Move each vertex ``margin`` pixels away from the polygon's centroid."""
    poly = np.asarray(polygon, dtype=np.float64)
    d = poly - poly.mean(0)
    norm = np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
    return poly + d / norm * margin


def polygon_mask(polygons: list[np.ndarray], size: int) -> np.ndarray:
    """Union of filled polygons (pixel-centre coordinates, as :mod:`PIL.ImageDraw` uses)
    -> (size, size) float32 in {0, 1}."""
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for poly in polygons:
        draw.polygon([(float(x), float(y)) for x, y in poly], fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def face_axes(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``(right, up, iod)``: unit eye-line vector, unit vector towards the forehead
    (image y points down), and the inter-ocular distance in pixels."""
    eye_to_eye = landmarks[42:48].mean(0) - landmarks[36:42].mean(0)
    iod = float(np.linalg.norm(eye_to_eye))
    right = eye_to_eye / max(iod, 1e-9)
    return right, np.array([right[1], -right[0]]), iod


def region_polygons(landmarks: np.ndarray, size: int) -> dict[str, list[np.ndarray]]:
    """The polygons of each region except ``background`` (see module doc), in pixels."""
    lm = np.asarray(landmarks, dtype=np.float64)
    right, up, iod = face_axes(lm)
    brows = [np.r_[lm[a:b] + up * 0.1 * iod, lm[a:b][::-1] - up * 0.1 * iod]
             for a, b in ((17, 22), (22, 27))]
    width = np.linalg.norm(lm[16] - lm[0])
    left_pt, right_pt = lm[0] - right * 0.3 * width, lm[16] + right * 0.3 * width
    far = up * 4.0 * size
    hair = np.r_[[left_pt], lm[17:27], [right_pt, right_pt + far, left_pt + far]]
    return {
        "mouth": [grow(lm[48:60], 0.08 * iod)],
        "eyes": [grow(lm[36:42], 0.15 * iod), grow(lm[42:48], 0.15 * iod)],
        "brows": brows,
        "nose": [grow(convex_hull(lm[27:36]), 0.1 * iod)],
        "face": [convex_hull(lm[0:27])],
        "hair": [hair],
    }


def region_masks(
    landmarks: np.ndarray, size: int, image_size: float | None = None, blur: float = 0.01
) -> dict[str, torch.Tensor]:
    """Soft masks ``{region: (size, size) float32 tensor in [0, 1]}`` for :data:`REGIONS`.

    ``landmarks``: (68, 2) pixel coordinates in an image of side ``image_size``
    (default ``size``); they are rescaled, so masks can be made at a feature-map
    resolution. ``blur``: Gaussian blur radius as a fraction of ``size``.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got {lm.shape}")
    scale = size / float(image_size or size)
    lm = (lm + 0.5) * scale - 0.5
    hard = {name: polygon_mask(polys, size) for name, polys in region_polygons(lm, size).items()}
    hard["hair"] = np.clip(hard["hair"] - hard["face"], 0.0, 1.0)
    hard["background"] = 1.0 - np.maximum(hard["face"], hard["hair"])
    radius = blur * size
    return {name: torch.from_numpy(_blur(hard[name], radius)) for name in REGIONS}


def _blur(mask: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a [0, 1] float mask (no-op for radius < 0.3 px)."""
    if radius < 0.3:
        return mask.astype(np.float32)
    img = Image.fromarray(np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    out = np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255.0
    return np.clip(out, 0.0, 1.0)


def head_polygons(landmarks: np.ndarray, hair: bool = True,
                  n_arc: int = 24) -> list[np.ndarray]:
    """Polygons (pixels, like ``landmarks``) of the head as paste-back blends it.

    With ``W`` the jaw width (landmarks 0 to 16) and the face's own axes:

    * the face: convex hull of the jaw (0-16), the brows (17-26) and the brows moved
      up by 0.8 IOD (the forehead, which the landmarks do not see);
    * with ``hair``: a half-ellipse over the eye line, 0.7 ``W`` to each side of the
      eye midpoint and 0.95 ``W`` up (the top of an FFHQ crop), tapering below the
      eye line over the ears to 0.6 ``W`` each side at 0.3 ``W`` down. It leaves the
      crop's corners, the shoulders and the background beside the neck out.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    right, up, iod = face_axes(lm)
    width = float(np.linalg.norm(lm[16] - lm[0]))
    face = convex_hull(np.r_[lm[0:27], lm[17:27] + up * 0.8 * iod])
    if not hair:
        return [face]
    centre = (lm[36:42].mean(0) + lm[42:48].mean(0)) / 2.0
    angles = np.linspace(0.0, np.pi, n_arc)
    arc = centre + np.outer(np.cos(angles), right) * 0.7 * width \
        + np.outer(np.sin(angles), up) * 0.95 * width
    ears = centre - up * 0.3 * width + np.outer([-0.6, 0.6], right) * width
    return [face, np.r_[arc, ears]]
