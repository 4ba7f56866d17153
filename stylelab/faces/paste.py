"""Paste an edited aligned crop back into the original photo.

The crop is warped back with the inverse of the alignment (bicubic; a crop larger
than the face's footprint in the photo is first reduced with Lanczos) and blended
through a feathered mask, so only the quad's footprint can change and its edges are
seamless. Mask (in crop pixels, ``f = feather * crop size``):

* ``region="crop"`` (default): the whole crop, ramping from 0 at its border to 1 at
  ``f`` pixels inside it (smoothstep), so outside the quad the photo stays bit-exact;
* ``region="face"``: the face from the landmarks (jaw + brows hull, extended over the
  forehead), grown by ``f / 2`` and blurred by ``f / 2``, times the crop mask;
* ``region="head"``: the face and the hair above it (the ``hair`` region of
  :mod:`.regions`: over the brows, the jaw width plus 30% each side, up to the crop's top),
  grown and blurred the same way, times the crop mask: background beside and below the
  head, and the shoulders, stay the photo's own.

:func:`paste_size` picks the generator size to render the crop at, so that it is not
scaled up into the photo (a soft patch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFilter

from .align import AlignedFace, quad_side
from .regions import convex_hull, face_axes, grow, polygon_mask, region_polygons

PASTE_REGIONS = ("crop", "face", "head")


def paste_size(aligned: AlignedFace, sizes: Sequence[int]) -> int:
    """The smallest of ``sizes`` (a generator's output sizes) at least as large as the
    face's crop spans in the photo, else the largest: rendering at it, the crop is never
    scaled up when pasted back. E.g. a 300 px face with sizes (256, 512, 1024) -> 512."""
    need = quad_side(aligned.quad)
    fitting = sorted(s for s in sizes if s >= need)
    return fitting[0] if fitting else max(sizes)


def paste_back(
    original: Image.Image,
    crop: Image.Image,
    aligned: AlignedFace,
    feather: float = 0.1,
    region: str = "crop",
) -> Image.Image:
    """Composite ``crop`` (the edited aligned crop, any square size) into a copy of
    ``original`` (the photo ``aligned`` came from). ``feather``: width of the soft
    edge as a fraction of the crop side, in [0, 0.5]. Returns a new RGB image."""
    _check(original, crop, aligned, feather, region)
    original = original.convert("RGB")
    crop = _fit(crop.convert("RGB"), aligned)
    box = _footprint(aligned, original.size)
    if box is None:
        return original.copy()
    side = crop.width
    mask = _crop_mask(side, feather)
    if region in ("face", "head"):
        lm = (aligned.landmarks + 0.5) * side / aligned.size - 0.5
        mask = mask * _face_mask(lm, side, feather, with_hair=region == "head")
    mask_img = Image.fromarray(np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    data = _patch_to_crop(aligned, side, box)
    size = (box[2] - box[0], box[3] - box[1])
    patch = crop.transform(size, Image.Transform.AFFINE, data, Image.Resampling.BICUBIC)
    patch_mask = mask_img.transform(size, Image.Transform.AFFINE, data,
                                    Image.Resampling.BILINEAR, fillcolor=0)
    out = original.copy()
    out.paste(Image.composite(patch, original.crop(box), patch_mask), box[:2])
    return out


def _check(original: Image.Image, crop: Image.Image, aligned: AlignedFace,
           feather: float, region: str) -> None:
    if original.size != tuple(aligned.source_size):
        raise ValueError(f"original is {original.size} but the face was aligned in a "
                         f"{tuple(aligned.source_size)} photo: pass the same photo")
    if crop.width != crop.height:
        raise ValueError(f"the crop must be square, got {crop.size}")
    if not 0.0 <= feather <= 0.5:
        raise ValueError(f"feather must be in [0, 0.5], got {feather}")
    if region not in PASTE_REGIONS:
        raise ValueError(f"region must be one of {PASTE_REGIONS}, got {region!r}")


def _fit(crop: Image.Image, aligned: AlignedFace) -> Image.Image:
    """Reduce a crop larger than its footprint in the photo (anti-aliasing the warp)."""
    side = max(8, int(np.ceil(quad_side(aligned.quad))))
    if crop.width > side:
        return crop.resize((side, side), Image.Resampling.LANCZOS)
    return crop


def _footprint(aligned: AlignedFace,
               photo_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Integer box (x0, y0, x1, y1) of the quad inside the photo, or None if it is outside."""
    lo = np.floor(aligned.quad.min(0)).astype(int) - 1
    hi = np.ceil(aligned.quad.max(0)).astype(int) + 2
    x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    x1, y1 = min(int(hi[0]), photo_size[0]), min(int(hi[1]), photo_size[1])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _patch_to_crop(aligned: AlignedFace, side: int, box: tuple[int, int, int, int]) -> tuple:
    """Pillow AFFINE data: patch corner coordinates -> crop corner coordinates."""
    shift = np.array([[1, 0, box[0]], [0, 1, box[1]], [0, 0, 1]], dtype=np.float64)
    corner = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    m = corner @ aligned.source_to_crop(side) @ shift @ np.linalg.inv(corner)
    return tuple(m[:2].ravel())


def _crop_mask(side: int, feather: float) -> np.ndarray:
    """(side, side) float mask: 0 at the crop border, 1 beyond ``feather * side`` inside."""
    if feather <= 0:
        return np.ones((side, side), np.float32)
    centres = np.arange(side, dtype=np.float32) + 0.5
    dist = np.minimum(centres, side - centres)  # distance to the nearer border
    t = np.clip(dist / (feather * side), 0.0, 1.0)
    ramp = t * t * (3.0 - 2.0 * t)  # smoothstep
    return np.minimum(ramp[:, None], ramp[None, :])


def _face_mask(landmarks: np.ndarray, side: int, feather: float,
               with_hair: bool = False) -> np.ndarray:
    """(side, side) soft mask: jaw + brows hull with the forehead (plus the hair region),
    grown and blurred."""
    _, up, iod = face_axes(landmarks)
    forehead = landmarks[17:27] + up * 0.8 * iod
    hull = convex_hull(np.r_[landmarks[0:27], forehead])
    radius = feather * side / 2.0
    polygons = [grow(hull, radius)]
    if with_hair:
        polygons += [grow(p, radius) for p in region_polygons(landmarks, side)["hair"]]
    hard = polygon_mask(polygons, side)
    if radius < 0.3:
        return hard
    img = Image.fromarray((hard * 255).astype(np.uint8), "L")
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), np.float32) / 255.0
