"""Paste-back as the Invert tab uses it: the crop rendered at the size the face spans in the
photo (paste_size) and blended over the face and hair only (region="head")."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylelab.faces import align_face, paste_back
from stylelab.faces.align import quad_side
from stylelab.faces.paste import paste_size

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def studio(portrait, detector):
    photo = portrait("P002")  # a 2048px studio portrait: the face spans about 1300 px
    return photo, align_face(photo, 256, detector=detector)


def test_paste_size_never_scales_up_when_it_can(studio):
    photo, aligned = studio
    side = quad_side(aligned.quad)
    assert paste_size(aligned, (256, 512, 1024)) == 1024  # larger than every size: the largest
    assert paste_size(aligned, (256, 512, 1024, 2048)) == 2048 > side
    small = photo.resize((photo.width // 6, photo.height // 6), Image.Resampling.LANCZOS)
    small_aligned = align_face(small, 256)
    assert quad_side(small_aligned.quad) < 256
    assert paste_size(small_aligned, (256, 512, 1024)) == 256


def test_head_region_leaves_background_and_shoulders_untouched(studio):
    photo, aligned = studio
    crop = Image.new("RGB", (256, 256), (255, 0, 255))  # a loud crop shows where it lands
    out = np.asarray(paste_back(photo, crop, aligned, region="head"), np.int16)
    src = np.asarray(photo, np.int16)
    changed = np.abs(out - src).max(-1) > 0
    lm = aligned.source_landmarks
    # the face is replaced: every landmark pixel changed
    pts = np.round(lm).astype(int)
    assert changed[pts[:, 1], pts[:, 0]].all()
    # below the chin (neck/shoulders) and beside the head (background) are the photo's own
    chin_y, width = lm[8, 1], lm[16, 0] - lm[0, 0]
    below = int(chin_y + 0.5 * width)
    assert not changed[below:].any()
    left, right = int(lm[0, 0] - 0.6 * width), int(lm[16, 0] + 0.6 * width)
    assert not changed[:, :max(left, 0)].any() and not changed[:, right:].any()
    # the whole-crop mode (the old default) paints more of the photo
    whole = np.abs(np.asarray(paste_back(photo, crop, aligned, region="crop"), np.int16)
                   - src).max(-1) > 0
    assert whole.sum() > changed.sum()


def _laplacian_var(image: Image.Image, box) -> float:
    gray = np.asarray(image.convert("L").crop(box), np.float64)
    lap = gray[1:-1, 1:-1] * 4 - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
    return float(lap.var())


def test_pasting_at_paste_size_is_sharper(studio, detector):
    """The same content (the photo's own aligned face) pasted from a crop of paste_size
    keeps fine detail that a 256px crop scaled up loses."""
    photo, _ = studio
    big = align_face(photo, 1024, detector=detector)
    sharp = paste_back(photo, big.image, big, region="head")
    soft = paste_back(photo, big.image.resize((256, 256), Image.Resampling.LANCZOS), big,
                      region="head")
    lm = big.source_landmarks
    box = tuple(int(v) for v in (*lm[17:48].min(0), *lm[17:48].max(0)))  # brows to eyes, nose
    ratio = _laplacian_var(sharp, box) / _laplacian_var(soft, box)
    assert ratio > 3, ratio
