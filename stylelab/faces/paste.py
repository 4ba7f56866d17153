"""Paste an edited aligned crop back into the original photo.

The crop is warped back with the inverse of the alignment at its own resolution
(Pillow's inverse affine transform, bicubic; a crop larger than the face's footprint
in the photo is first reduced with Lanczos) and blended through a feathered mask in
crop coordinates. Photo pixels where the warped mask is 0 are returned byte for byte.

Masks (``region``):

* ``"head"`` (default): :func:`face_mask` with the hair, the face (landmark hull,
  jaw line, forehead) and a dome over it (:func:`.regions.head_polygons`): the crop's
  corners, the shoulders and the background beside the head stay the photo's own;
* ``"face"``: :func:`face_mask` without the hair;
* ``"crop"``: the whole crop, ramping from 0 at its border to 1 at ``feather * side``
  pixels inside it (smoothstep): the old behaviour, a rectangle over face and background.

Render the crop at :func:`paste_size` (the generator size nearest above the face's
footprint in the photo) so that it is not scaled up into the photo (a soft patch)::

    size = paste_size(aligned, G.sizes)                  # e.g. 1024 for a 1300 px face
    crop = to_pil(G.synthesis(w, size=size))[0]
    out = paste_back(photo, crop, aligned)               # face and hair only
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFilter

from .align import AlignedFace, quad_side
from .regions import grow, head_polygons, polygon_mask

PASTE_REGIONS = ("head", "face", "crop")
#: :func:`face_mask` soft-edge width, as a fraction of the jaw width.
FACE_FEATHER = 0.15
#: ``region="crop"`` soft-edge width, as a fraction of the crop side.
CROP_FEATHER = 0.1

MaskLike = np.ndarray | Image.Image


def paste_size(aligned: AlignedFace, sizes: Sequence[int]) -> int:
    """The smallest of ``sizes`` (a generator's output sizes) at least the side, in photo
    pixels, of the aligned crop's quad; else the largest. Rendered at it, the crop is
    scaled up into the photo only when no offered size is large enough.

    >>> paste_size(aligned, (256, 512, 1024))   # quad side 300 photo pixels
    512
    >>> paste_size(aligned, (256, 512, 1024))   # quad side 1300: the largest there is
    1024
    """
    if not len(sizes):
        raise ValueError("sizes is empty: pass the generator's output sizes")
    need = quad_side(aligned.quad)
    fitting = sorted(int(s) for s in sizes if s >= need)
    return fitting[0] if fitting else int(max(sizes))


def face_mask(aligned: AlignedFace, size: int, feather: float = FACE_FEATHER,
              hair: bool = True) -> np.ndarray:
    """(size, size) float32 mask in [0, 1], in the coordinates of ``aligned``'s crop
    rendered at ``size`` pixels: 1 over the face (and, with ``hair``, the hair dome
    over it), 0 at the crop's corners, the shoulders and the background beside the head.

    ``feather``: width of the soft edge as a fraction of the jaw width (landmarks 0-16),
    in [0, 0.5]: the face polygon is grown by 3 sigma and the polygons are blurred
    with a Gaussian of sigma ``feather * jaw / 4``, so the landmark hull stays at 1
    (>= 0.99) with no step at the edge. The mask then ramps to 0 at the crop's border
    (smoothstep) over the same width, or less where a landmark is nearer the border.
    """
    _check_feather(feather)
    lm = (np.asarray(aligned.landmarks, np.float64) + 0.5) * size / aligned.size - 0.5
    sigma = feather * float(np.linalg.norm(lm[16] - lm[0])) / 4.0
    face, *dome = head_polygons(lm, hair)
    hard = polygon_mask([grow(face, 3.0 * sigma), *dome], size)
    margin = float(np.min(np.r_[lm + 0.5, size - 0.5 - lm]))  # nearest landmark to the border
    ramp = float(np.clip(min(4.0 * sigma, margin), 1.0, size / 2.0))
    return _blur(hard, sigma) * _crop_mask(size, ramp / size)


def paste_back(
    original: Image.Image,
    crop: Image.Image,
    aligned: AlignedFace,
    feather: float | None = None,
    region: str = "head",
    mask: MaskLike | None = None,
) -> Image.Image:
    """Composite ``crop`` (the edited aligned crop, any square size) into a copy of
    ``original`` (the photo ``aligned`` came from). Returns a new RGB image.

    ``region``: ``"head"``, ``"face"`` or ``"crop"`` (module doc). ``feather``: soft-edge
    width in [0, 0.5], a fraction of the jaw width for head/face (default
    :data:`FACE_FEATHER`) or of the crop side for crop (default :data:`CROP_FEATHER`).
    ``mask``: a square mask in crop coordinates ((H, W) float in [0, 1] or a PIL ``L``
    image, any size) used instead of ``region``'s. Pixels where the warped mask is 0
    are the photo's own, bit-exact.
    """
    _check(original, crop, aligned, region)
    original = original.convert("RGB")
    crop = _fit(crop.convert("RGB"), aligned)
    side = crop.width
    alpha = _region_mask(aligned, side, feather, region) if mask is None \
        else _as_mask(mask, side)
    box = _support_box(aligned, alpha, original.size)
    if box is None:
        return original.copy()
    mask_img = Image.fromarray(np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    data = _patch_to_crop(aligned, side, box)
    size = (box[2] - box[0], box[3] - box[1])
    patch = crop.transform(size, Image.Transform.AFFINE, data, Image.Resampling.BICUBIC)
    patch_mask = mask_img.transform(size, Image.Transform.AFFINE, data,
                                    Image.Resampling.BILINEAR, fillcolor=0)
    out = original.copy()
    out.paste(Image.composite(patch, original.crop(box), patch_mask), box[:2])
    return out


def _check(original: Image.Image, crop: Image.Image, aligned: AlignedFace,
           region: str) -> None:
    if original.size != tuple(aligned.source_size):
        raise ValueError(f"original is {original.size} but the face was aligned in a "
                         f"{tuple(aligned.source_size)} photo: pass the same photo")
    if crop.width != crop.height:
        raise ValueError(f"the crop must be square, got {crop.size}")
    if region not in PASTE_REGIONS:
        raise ValueError(f"region must be one of {PASTE_REGIONS}, got {region!r}")


def _check_feather(feather: float) -> None:
    if not 0.0 <= feather <= 0.5:
        raise ValueError(f"feather must be in [0, 0.5], got {feather}")


def _region_mask(aligned: AlignedFace, side: int, feather: float | None,
                 region: str) -> np.ndarray:
    """(side, side) float mask of ``region`` (module doc)."""
    if region == "crop":
        feather = CROP_FEATHER if feather is None else feather
        _check_feather(feather)
        return _crop_mask(side, feather)
    feather = FACE_FEATHER if feather is None else feather
    return face_mask(aligned, side, feather, hair=region == "head")


def _as_mask(mask: MaskLike, side: int) -> np.ndarray:
    """A user mask (float array in [0, 1] or PIL image) -> (side, side) float32."""
    if isinstance(mask, Image.Image):
        arr = np.asarray(mask.convert("L"), np.float32) / 255.0
    else:
        arr = np.asarray(mask, np.float32)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"mask must be a square (H, W) array, got shape {arr.shape}")
    if not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0:
        raise ValueError("mask values must be finite and in [0, 1]")
    if arr.shape[0] != side:
        arr = np.asarray(Image.fromarray(arr, "F").resize((side, side), Image.Resampling.BILINEAR))
    return np.clip(arr, 0.0, 1.0)


def _fit(crop: Image.Image, aligned: AlignedFace) -> Image.Image:
    """Reduce a crop larger than its footprint in the photo (anti-aliasing the warp)."""
    side = max(8, int(np.ceil(quad_side(aligned.quad))))
    if crop.width > side:
        return crop.resize((side, side), Image.Resampling.LANCZOS)
    return crop


def _support_box(aligned: AlignedFace, mask: np.ndarray,
                 photo_size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """Integer photo box (x0, y0, x1, y1) around the pixels the mask can reach (the
    quantised mask's nonzero crop pixels, +1 px for the bilinear warp), or None."""
    ys, xs = np.nonzero(mask >= 0.5 / 255.0)
    if not len(xs):
        return None
    x0, x1, y0, y1 = xs.min() - 1.0, xs.max() + 1.0, ys.min() - 1.0, ys.max() + 1.0
    corners = aligned.to_source(np.array([[x0, y0], [x0, y1], [x1, y1], [x1, y0]]),
                                mask.shape[0])
    scale = quad_side(aligned.quad) / mask.shape[0]
    lo = np.floor(corners.min(0) - scale).astype(int) - 1
    hi = np.ceil(corners.max(0) + scale).astype(int) + 2
    bx0, by0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
    bx1, by1 = min(int(hi[0]), photo_size[0]), min(int(hi[1]), photo_size[1])
    return (bx0, by0, bx1, by1) if bx1 > bx0 and by1 > by0 else None


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


def _blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (Pillow, 8-bit) of a {0, 1} mask; a no-op below 0.3 px."""
    if sigma < 0.3:
        return mask.astype(np.float32)
    img = Image.fromarray((mask * 255.0 + 0.5).astype(np.uint8), "L")
    return np.asarray(img.filter(ImageFilter.GaussianBlur(sigma)), np.float32) / 255.0
