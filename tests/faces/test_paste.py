"""paste_back: the unedited crop reproduces the photo; edits stay inside the face mask
(face and hair, feathered); a crop rendered at paste_size keeps the photo's detail."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from stylelab.faces import align_face, paste_back
from stylelab.faces.align import quad_side
from stylelab.faces.paste import face_mask, paste_size
from stylelab.faces.regions import convex_hull, face_axes, polygon_mask

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def selfie(portrait, detector):
    """A 848x1264 selfie and its 512px alignment (quad side about 480 photo pixels)."""
    photo = portrait("P003", "amateur_selfie")
    photo = photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.LANCZOS)
    return photo, align_face(photo, 512, detector=detector)


@pytest.fixture(scope="module")
def studio(portrait, detector):
    """A 2048px studio portrait and its 256px alignment (quad side about 1360 photo px)."""
    photo = portrait("P002")
    return photo, align_face(photo, 256, detector=detector)


def footprint(aligned, size) -> np.ndarray:
    """(H, W) bool: photo pixels inside the quad (grown by 1 px)."""
    img = Image.new("L", size, 0)
    centre = aligned.quad.mean(0)
    side = np.hypot(*(aligned.quad[3] - aligned.quad[0]))
    grown = centre + (aligned.quad - centre) * (1 + 2 / side)
    ImageDraw.Draw(img).polygon([tuple(p) for p in grown], fill=1)
    return np.asarray(img, bool)


def face_box(aligned) -> tuple[slice, slice]:
    """Rows/columns spanned by the eyes, nose and mouth in the photo."""
    lm = aligned.source_landmarks[17:68]
    (x0, y0), (x1, y1) = lm.min(0).astype(int), lm.max(0).astype(int)
    return slice(y0, y1), slice(x0, x1)


def test_unedited_crop_reproduces_photo(selfie):
    photo, aligned = selfie
    out = paste_back(photo, aligned.image, aligned)
    a, b = np.asarray(photo, float), np.asarray(out, float)
    rows, cols = face_box(aligned)
    assert np.abs(a - b)[rows, cols].mean() < 3.0
    outside = ~footprint(aligned, photo.size)
    assert np.array_equal(a[outside], b[outside])
    assert out.size == photo.size and out is not photo


@pytest.mark.parametrize("crop_size", [256, 1024])
def test_red_crop_changes_only_the_face(selfie, crop_size):
    photo, aligned = selfie
    red = Image.new("RGB", (crop_size, crop_size), (255, 0, 0))
    out = np.asarray(paste_back(photo, red, aligned), int)
    a = np.asarray(photo, int)
    changed = np.abs(out - a).max(2) > 0
    assert not (changed & ~footprint(aligned, photo.size)).any()
    rows, cols = face_box(aligned)
    assert (np.abs(out[rows, cols] - (255, 0, 0)).max(2) <= 2).mean() > 0.95
    # Soft edge: along a row through the eyes, red fades in over several pixels.
    y = int(aligned.source_landmarks[36:48, 1].mean())
    ramp = out[y, :, 0] - a[y, :, 0]
    xs = np.nonzero(np.abs(out[y] - a[y]).max(1) > 0)[0]
    left = ramp[xs[0]: xs[0] + 40]
    assert len(np.unique(np.round(left / 10))) > 4


def test_face_region_mask_spares_the_quad_corners(selfie):
    photo, aligned = selfie
    red = Image.new("RGB", (512, 512), (255, 0, 0))
    out = np.asarray(paste_back(photo, red, aligned, region="face"), int)
    a = np.asarray(photo, int)
    for corner in aligned.to_source(np.array([[30.0, 30.0], [481.0, 30.0]])):
        x, y = corner.astype(int)
        assert np.array_equal(out[y, x], a[y, x])
    nose = aligned.source_landmarks[30].astype(int)
    assert tuple(out[nose[1], nose[0]]) == (255, 0, 0)


def test_hard_edges_and_bad_arguments(selfie):
    photo, aligned = selfie
    red = Image.new("RGB", (512, 512), (255, 0, 0))
    out = np.asarray(paste_back(photo, red, aligned, feather=0.0), int)
    centre = aligned.quad.mean(0).astype(int)
    assert tuple(out[centre[1], centre[0]]) == (255, 0, 0)
    with pytest.raises(ValueError, match="same photo"):
        paste_back(photo.resize((100, 100)), red, aligned)
    with pytest.raises(ValueError, match="square"):
        paste_back(photo, red.resize((512, 256)), aligned)
    with pytest.raises(ValueError, match="feather"):
        paste_back(photo, red, aligned, feather=0.9)


def mask_support(aligned, mask: np.ndarray, size) -> np.ndarray:
    """(H, W) bool: photo pixels the mask can reach (nonzero after 8-bit rounding, grown
    by 2 crop pixels for the bilinear warp)."""
    side = mask.shape[0]
    on = Image.fromarray(((mask >= 0.5 / 255) * 255).astype(np.uint8), "L")
    grown = np.asarray(on.filter(ImageFilter.MaxFilter(5)), bool)
    ys, xs = np.mgrid[0:size[1], 0:size[0]]
    pts = np.rint(aligned.to_crop(np.c_[xs.ravel(), ys.ravel()], side)).astype(int)
    inside = ((pts >= 0) & (pts < side)).all(1)
    hit = np.zeros(len(pts), bool)
    hit[inside] = grown[pts[inside, 1], pts[inside, 0]]
    return hit.reshape(size[1], size[0])


@pytest.mark.parametrize("region", ["head", "face"])
def test_pixels_outside_the_mask_are_the_photos_own(selfie, region):
    photo, aligned = selfie
    red = Image.new("RGB", (512, 512), (255, 0, 0))
    out = np.asarray(paste_back(photo, red, aligned, region=region), int)
    a = np.asarray(photo, int)
    mask = face_mask(aligned, 512, hair=region == "head")
    support = mask_support(aligned, mask, photo.size)
    assert np.array_equal(out[~support], a[~support])
    # unlike the whole-crop rectangle, a good part of the quad (corners, shoulders) is kept
    quad = footprint(aligned, photo.size)
    assert (quad & ~support).sum() > 0.15 * quad.sum()
    # where the mask is 1 (no pixel below 1 within reach), the crop replaces the photo
    below = mask_support(aligned, (mask < 0.999).astype(np.float32), photo.size)
    core = mask_support(aligned, (mask >= 0.999).astype(np.float32), photo.size) & ~below
    assert core.sum() > 1000 and (np.abs(out[core] - (255, 0, 0)).max(1) <= 2).all()


def test_explicit_mask(selfie):
    photo, aligned = selfie
    red = Image.new("RGB", (512, 512), (255, 0, 0))
    same = paste_back(photo, red, aligned, mask=np.zeros((64, 64), np.float32))
    assert np.array_equal(np.asarray(same), np.asarray(photo))
    square = np.zeros((64, 64), np.float32)
    square[24:40, 24:40] = 1.0
    out = np.asarray(paste_back(photo, red, aligned, mask=square), int)
    changed = np.abs(out - np.asarray(photo, int)).max(2) > 0
    assert changed.any() and not (changed & ~mask_support(aligned, square, photo.size)).any()
    with pytest.raises(ValueError, match="square"):
        paste_back(photo, red, aligned, mask=np.ones((64, 32)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        paste_back(photo, red, aligned, mask=np.full((64, 64), 2.0))


def crop_landmarks(aligned, size: int) -> np.ndarray:
    return (aligned.landmarks + 0.5) * size / aligned.size - 0.5


@pytest.fixture(scope="module")
def studio_faces(portrait, detector):
    """Four studio portraits aligned at 256px."""
    people = ("P001", "P003", "P005", "P007")
    return [align_face(portrait(p), 256, detector=detector) for p in people]


@pytest.mark.parametrize("size", [256, 1024])
def test_mask_covers_face_and_hair_but_not_the_corners(studio_faces, size):
    for aligned in studio_faces:
        mask = face_mask(aligned, size)
        lm = crop_landmarks(aligned, size)
        hull = polygon_mask([convex_hull(lm)], size) > 0
        assert mask[hull].min() > 0.99
        _, up, iod = face_axes(lm)
        width = np.linalg.norm(lm[16] - lm[0])
        eyes = (lm[36:42].mean(0) + lm[42:48].mean(0)) / 2
        forehead = np.rint(lm[17:27] + up * 0.6 * iod).astype(int)
        assert mask[forehead[:, 1], forehead[:, 0]].min() > 0.99
        hair = np.rint(eyes + up * 0.6 * width).astype(int)
        assert mask[hair[1], hair[0]] > 0.99
        face_only = face_mask(aligned, size, hair=False)
        assert (face_only <= mask + 1e-6).all() and face_only.sum() < 0.95 * mask.sum()
        k = int(0.08 * size)
        for corner in (mask[:k, :k], mask[:k, -k:], mask[-k:, :k], mask[-k:, -k:]):
            assert corner.max() < 0.01
        border = np.r_[mask[0], mask[-1], mask[:, 0], mask[:, -1]]
        assert border.max() < 0.01  # nothing to cut at the quad's edge


def max_slope(mask: np.ndarray) -> float:
    gy, gx = np.gradient(mask.astype(np.float64))
    return float(np.hypot(gx, gy).max())


@pytest.mark.parametrize("size", [256, 1024])
def test_mask_has_no_hard_edge(studio_faces, size):
    for aligned in studio_faces:
        lm = crop_landmarks(aligned, size)
        width = np.linalg.norm(lm[16] - lm[0])
        # 0 -> 1 over at least 4% of the jaw width (the default spreads it over 15%)
        assert max_slope(face_mask(aligned, size)) * width < 25
        assert max_slope(face_mask(aligned, size, feather=0.0)) >= 0.5  # a step is caught


def laplacian_var(image: Image.Image, box) -> float:
    """Variance of the 4-neighbour Laplacian of the grey image inside ``box``."""
    g = np.asarray(image.convert("L").crop(box), np.float64)
    lap = g[1:-1, 1:-1] * 4 - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


@pytest.mark.parametrize("which", ["studio", "selfie"])
def test_crop_at_paste_size_is_sharper_than_256_upscaled(request, which):
    """The photo's own aligned face as the "reconstruction": rendered at paste_size it
    keeps the fine detail that the 256px crop scaled up into the photo loses."""
    photo, aligned = request.getfixturevalue(which)
    size = paste_size(aligned, (256, 512, 1024))
    sharp_crop = align_face(photo, size, face=aligned.source_landmarks)
    soft_crop = align_face(photo, 256, face=aligned.source_landmarks)
    lm = aligned.source_landmarks[17:68]  # brows, eyes, nose, mouth
    box = tuple(int(v) for v in (*lm.min(0), *lm.max(0)))
    original = laplacian_var(photo, box)
    sharp = laplacian_var(paste_back(photo, sharp_crop.image, sharp_crop), box)
    soft = laplacian_var(paste_back(photo, soft_crop.image, soft_crop), box)
    print(f"{which}: paste_size {size}, Laplacian variance photo {original:.1f}, "
          f"pasted at {size} {sharp:.1f}, pasted at 256 {soft:.1f}")
    assert sharp > 3 * soft and sharp > 0.4 * original


def test_paste_size(studio, selfie):
    photo, aligned = studio
    assert quad_side(aligned.quad) > 1024
    assert paste_size(aligned, (256, 512, 1024)) == 1024  # none is large enough: the largest
    assert paste_size(aligned, (2048, 256, 1024)) == 2048
    assert paste_size(selfie[1], (256, 512, 1024)) == 512  # quad side about 480
    small = photo.resize((photo.width // 6, photo.height // 6), Image.Resampling.LANCZOS)
    small_aligned = align_face(small, 256, face=(aligned.source_landmarks + 0.5) / 6 - 0.5)
    assert quad_side(small_aligned.quad) < 256
    assert paste_size(small_aligned, (1024, 512, 256)) == 256
    with pytest.raises(ValueError, match="empty"):
        paste_size(aligned, ())
