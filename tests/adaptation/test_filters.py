"""Known-answer filters: shape, range, determinism, and that each one changes the image in
its own way (colour, structure, texture)."""

from __future__ import annotations

import pytest
import torch

from stylelab.adaptation.filters import apply_filter, gaussian_blur, list_filters


@pytest.fixture(scope="module")
def faces(tiny):
    with torch.no_grad():
        return tiny.synthesis(tiny.sample_w(2, seed=3), size=64).clamp(-1, 1)


@pytest.mark.parametrize("name", list_filters())
def test_filter_shape_range_determinism(faces, name):
    out = apply_filter(name, faces)
    assert out.shape == faces.shape
    assert out.min() >= -1 and out.max() <= 1
    assert torch.equal(out, apply_filter(name, faces))
    assert (out - faces).abs().mean() > 0.01  # it does something


def test_sepia_is_a_known_colour_matrix():
    grey = torch.zeros(1, 3, 4, 4)  # mid grey -> sepia tone, R > G > B
    out = apply_filter("sepia", grey)
    r, g, b = (float(out[0, c].mean()) for c in range(3))
    assert r > g > b


def test_sketch_is_grey_and_mostly_white(faces):
    out = apply_filter("sketch", faces)
    assert torch.allclose(out[:, 0], out[:, 1]) and torch.allclose(out[:, 1], out[:, 2])
    assert float(out.mean()) > 0.3


def test_canvas_keeps_structure(faces):
    # a texture, not a geometric change: the blurred image stays close
    out = apply_filter("canvas", faces)
    assert (gaussian_blur(out, 2.0) - gaussian_blur(faces, 2.0)).abs().mean() < 0.15


def test_unknown_filter_lists_valid_ones():
    with pytest.raises(ValueError, match="sepia"):
        apply_filter("watercolour", torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        apply_filter("sepia", torch.zeros(3, 8, 8))
