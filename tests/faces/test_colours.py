"""Pixel measures: painted regions of known colour are read back exactly."""

import numpy as np
import pytest

from stylelab.faces.attributes import MEAN_FACE_3D
from stylelab.faces.colours import COLOUR_MEASURES, region_colours, region_pixel_masks
from stylelab.faces.regions import head_polygons, polygon_mask

SIZE = 256
SKIN, HAIR, BACK = (200, 150, 120), (60, 40, 20), (30, 90, 200)


def mean_landmarks() -> np.ndarray:
    """The generic face, frontal, at an FFHQ-like scale and place."""
    return MEAN_FACE_3D[:, :2] * 0.27 * SIZE + np.array([0.5, 0.55]) * SIZE


def painted(lm: np.ndarray) -> np.ndarray:
    face, head = head_polygons(lm)
    img = np.empty((SIZE, SIZE, 3), np.uint8)
    img[:] = BACK
    img[polygon_mask([face, head], SIZE) > 0.5] = HAIR
    img[polygon_mask([face], SIZE) > 0.5] = SKIN
    return img


def test_painted_regions_read_back():
    lm = mean_landmarks()
    got = region_colours(painted(lm), lm)
    for region, rgb in (("skin", SKIN), ("hair", HAIR), ("background", BACK)):
        assert [round(got[f"{region}_{c}"] * 255) for c in "rgb"] == list(rgb)
        assert got[f"{region}_luma"] == pytest.approx(np.dot(rgb, [0.299, 0.587, 0.114]) / 255)


def test_regions_are_disjoint_and_follow_the_face():
    lm = mean_landmarks()
    masks = region_pixel_masks(lm, SIZE)
    assert not (masks["skin"] & masks["hair"]).any()
    assert not (masks["hair"] & masks["background"]).any()
    assert all(m.sum() > 200 for m in masks.values())
    moved = region_pixel_masks(lm + [20, 0], SIZE)
    assert np.argwhere(moved["skin"])[:, 1].mean() == pytest.approx(
        np.argwhere(masks["skin"])[:, 1].mean() + 20, abs=1.0)


def test_no_face_gives_nan_and_bad_input_is_refused():
    assert all(np.isnan(v) for v in region_colours(np.zeros((8, 8, 3), np.uint8), None).values())
    assert set(region_colours(np.zeros((8, 8, 3), np.uint8), None)) == set(COLOUR_MEASURES)
    with pytest.raises(ValueError, match="square"):
        region_colours(np.zeros((8, 9, 3), np.uint8), mean_landmarks())
    with pytest.raises(ValueError, match="68, 2"):
        region_pixel_masks(np.zeros((5, 2)), SIZE)
