"""Masks for local editing: facial regions from landmarks, or painted by a user, as
``(H, W)`` float tensors in [0, 1] at any resolution, feathered.

* :func:`region_mask`: a region of :data:`~stylelab.faces.regions.REGIONS` from 68 landmarks
  (pixels of an image of side ``image_size``);
* :func:`face_region_mask`: the same for a rendered FFHQ-aligned face (dlib finds the landmarks);
* :func:`load_mask`: a painted mask (a PNG/JPEG path, PIL image, array or tensor): white =
  edit; refused when empty, all-ones, or not an image;
* :func:`resize_mask`: to a feature layer's or the output's resolution, with a feather.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from ..faces.regions import REGIONS, region_masks

#: a mask covering less than this share of the image counts as empty; more than 1 - it as full
EMPTY = 0.002


def region_mask(landmarks: np.ndarray, region: str, size: int, image_size: float | None = None,
                blur: float = 0.02) -> torch.Tensor:
    """``(size, size)`` soft mask of ``region`` from ``(68, 2)`` landmarks in pixels of an
    image of side ``image_size`` (default ``size``)."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose one of {', '.join(REGIONS)}")
    return region_masks(landmarks, size, image_size, blur)[region]


def face_region_mask(image: torch.Tensor, region: str, size: int | None = None,
                     blur: float = 0.02, fallback: bool = False) -> torch.Tensor:
    """The ``region`` mask of a rendered face ``(1, 3, S, S)`` in [-1, 1] (landmarks by dlib).
    No face found: ValueError, or with ``fallback`` the regions of the average FFHQ-aligned
    face (:func:`~stylelab.faces.identity.canonical_landmarks`)."""
    from ..faces.detect import default_detector
    from ..images import to_uint8

    side = image.shape[-1]
    faces = default_detector(cnn_fallback=False).detect(to_uint8(image[:1])[0])
    landmarks = faces[0].landmarks if faces else None
    if landmarks is None and fallback:
        from ..faces.identity import canonical_landmarks

        landmarks = canonical_landmarks(side).numpy()
    if landmarks is None:
        raise ValueError("no face found in the image, so its regions are unknown: paint a "
                         "mask instead")
    return region_mask(landmarks, region, size or side, side, blur)


def check_mask(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` as float32 ``(H, W)`` in [0, 1]; ValueError when it is empty or covers all."""
    mask = torch.as_tensor(mask, dtype=torch.float32)
    if mask.ndim == 3:
        mask = mask.mean(0) if mask.shape[0] in (1, 3, 4) else mask.mean(-1)
    if mask.ndim != 2 or min(mask.shape) < 2:
        raise ValueError(f"a mask must be a 2-D image, got shape {tuple(mask.shape)}")
    if not torch.isfinite(mask).all():
        raise ValueError("the mask has values that are not numbers")
    mask = mask.clamp(0, 1)
    share = float(mask.mean())
    if share < EMPTY:
        raise ValueError("the mask is empty: paint (white) where the edit should go")
    if share > 1 - EMPTY:
        raise ValueError("the mask covers the whole image: that is a global edit, use the "
                         "Edit tab, or leave part of the face unpainted")
    return mask


def load_mask(source) -> torch.Tensor:
    """A painted mask from a path, PIL image, ``(H, W[, C])`` array or tensor -> ``(H, W)``
    float in [0, 1] (white = 1; an alpha channel, when the image has one, is the mask)."""
    if isinstance(source, (str, Path)):
        try:
            with Image.open(source) as im:
                im.load()
                source = im.copy()
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"the mask {Path(source).name} is not an image "
                             "(use a PNG: white where the edit goes)") from e
    if isinstance(source, Image.Image):
        if source.mode in ("RGBA", "LA") and source.getextrema()[-1][0] < 255:
            array = np.asarray(source.getchannel("A"), dtype=np.float32) / 255.0
        else:
            array = np.asarray(source.convert("L"), dtype=np.float32) / 255.0
        return check_mask(torch.from_numpy(array))
    array = torch.as_tensor(np.asarray(source), dtype=torch.float32)
    if array.numel() and float(array.max()) > 1.0:
        array = array / 255.0
    return check_mask(array)


def resize_mask(mask: torch.Tensor, size: int, feather: float = 0.0) -> torch.Tensor:
    """``(H, W)`` -> ``(size, size)`` (area-averaged down, bilinear up), then a Gaussian
    feather of ``feather * size`` pixels (0: none). Non-square masks are refused."""
    mask = check_mask(mask)
    if mask.shape[0] != mask.shape[1]:
        raise ValueError(f"the mask is {mask.shape[1]}x{mask.shape[0]}; it must be square like "
                         "the face")
    x = mask[None, None]
    mode = "area" if size < mask.shape[0] else "bilinear"
    x = F.interpolate(x, size=(size, size), mode=mode,
                      **({"align_corners": False} if mode == "bilinear" else {}))
    radius = feather * size
    if radius >= 0.3:
        k = int(2 * round(3 * radius) + 1)
        t = torch.arange(k, dtype=torch.float32) - k // 2
        g = torch.exp(-t.square() / (2 * radius**2))
        g = g / g.sum()
        x = F.pad(x, (k // 2,) * 4, mode="replicate")
        x = F.conv2d(F.conv2d(x, g.view(1, 1, 1, k)), g.view(1, 1, k, 1))
    return x[0, 0].clamp(0, 1)
