"""Cheap pixel measures of a face photo from its 68 landmarks: skin, hair and background colour.

Each region is a polygon built from the landmarks in the face's own axes (so it follows roll
and scale), and its colour is the per-channel *median* over the region's pixels (robust to
stray pixels such as a strand of hair or an ear):

* ``skin``: both cheeks (the hull of jaw points 1-3 / 13-15, the nose-wing points 31 / 35,
  the mouth corners 48 / 54 and the lower eyelids) and the nose (27-35), each shrunk by 15%
  of the inter-ocular distance (IOD) towards its centre, so eyes, lips and beard edges stay out;
* ``hair``: the band of the head above the forehead: the head outline paste-back uses
  (:func:`~stylelab.faces.regions.head_polygons`) minus the face and forehead (brows raised by
  0.8 IOD). A bald head reads as skin colour there: it is the colour of that region, not a
  hair detector;
* ``background``: pixels outside the head outline in the top 45% of the image (the crop's
  upper corners: above the shoulders, so clothing stays out).

Every colour is RGB in [0, 1]; ``*_luma`` is Rec. 601 luma ``0.299 R + 0.587 G + 0.114 B``.
A region with fewer than :data:`MIN_PIXELS` pixels (a face turned far, or cropped oddly)
gives NaN.
"""

from __future__ import annotations

import numpy as np

from .regions import convex_hull, face_axes, grow, head_polygons, polygon_mask

REGIONS = ("skin", "hair", "background")
#: The measures :func:`region_colours` returns, in order.
COLOUR_MEASURES = tuple(f"{r}_{c}" for r in REGIONS for c in ("r", "g", "b", "luma"))
MIN_PIXELS = 20
LUMA = np.array([0.299, 0.587, 0.114])


def skin_polygons(landmarks: np.ndarray) -> list[np.ndarray]:
    """Cheek and nose polygons (pixels, like ``landmarks``), shrunk away from features."""
    lm = np.asarray(landmarks, dtype=np.float64)
    _, _, iod = face_axes(lm)
    left = convex_hull(lm[[1, 2, 3, 31, 48, 40, 41]])
    right = convex_hull(lm[[15, 14, 13, 35, 54, 47, 46]])
    nose = convex_hull(lm[27:36])
    return [grow(p, -0.15 * iod) for p in (left, right, nose)]


def region_pixel_masks(landmarks: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """``{region: (size, size) bool}`` for :data:`REGIONS` in an image of side ``size``."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got {lm.shape}")
    face, head = head_polygons(lm, hair=True)
    face_mask = polygon_mask([face], size) > 0.5
    head_mask = polygon_mask([face, head], size) > 0.5
    top = np.zeros((size, size), dtype=bool)
    top[: round(0.45 * size)] = True
    return {
        "skin": polygon_mask(skin_polygons(lm), size) > 0.5,
        "hair": head_mask & ~face_mask,
        "background": top & ~head_mask,
    }


def region_colours(image: np.ndarray, landmarks: np.ndarray | None) -> dict[str, float]:
    """``image``: (H, W, 3) uint8 RGB, square; ``landmarks``: (68, 2) pixels or None.
    Returns ``{measure: value}`` for :data:`COLOUR_MEASURES` (NaN without landmarks)."""
    out = dict.fromkeys(COLOUR_MEASURES, float("nan"))
    if landmarks is None:
        return out
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image must be a square (H, W, 3) uint8 array, got {image.shape}")
    masks = region_pixel_masks(landmarks, image.shape[0])
    for region, mask in masks.items():
        if mask.sum() < MIN_PIXELS:
            continue
        rgb = np.median(image[mask].astype(np.float64), axis=0) / 255.0
        for c, v in zip("rgb", rgb):
            out[f"{region}_{c}"] = float(v)
        out[f"{region}_luma"] = float(rgb @ LUMA)
    return out
