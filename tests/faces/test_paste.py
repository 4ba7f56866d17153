"""paste_back: the unedited crop reproduces the photo; edits stay inside the face footprint."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from stylelab.faces import align_face, paste_back

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def selfie(portrait, detector):
    """A 848x1264 selfie and its 512px alignment (quad side about 480 photo pixels)."""
    photo = portrait("P003", "amateur_selfie")
    photo = photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.LANCZOS)
    return photo, align_face(photo, 512, detector=detector)


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
