"""Masked-attention correspondence on constructed features with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylelab.aligned import (
    correspond,
    fill_unreliable,
    landmark_error,
    warp,
    warp_points,
)


def shifted(features: torch.Tensor, dx: int) -> torch.Tensor:
    return torch.roll(features, shifts=dx, dims=3)


@pytest.fixture(scope="module")
def feats():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(2, 16, 8, 8, generator=gen)


def test_identity_features_match_themselves(feats):
    corr = correspond(feats, feats, temperature=0.01)
    assert torch.allclose(corr.attention.sum(-1), torch.ones(2, 64))
    assert (corr.attention.argmax(-1) == torch.arange(64)).all()
    img = torch.rand(2, 3, 8, 8)
    assert torch.allclose(warp(corr, img), img, atol=1e-3)


def test_shifted_exemplar_points_map_by_the_shift(feats):
    corr = correspond(feats, shifted(feats, 2), temperature=0.01)
    pts = torch.tensor([[[10.0, 20.0], [30.0, 40.0]]]).repeat(2, 1, 1)  # 64 px image, 8 px cells
    mapped = warp_points(corr, pts, 64)
    # a point at x maps to the exemplar cell 2 to the right (cell centres: +16 px, snapped)
    assert torch.allclose(mapped[..., 0], torch.tensor([[28.0, 44.0]] * 2), atol=0.5)


def test_masking_sharpens_a_noisy_correspondence(feats):
    gen = torch.Generator().manual_seed(1)
    noisy = shifted(feats, 1) + 0.8 * torch.randn(feats.shape, generator=gen)
    lmk = np.random.default_rng(0).uniform(4, 60, size=(2, 68, 2))
    lmk[:, 36:42] = [20, 30]
    lmk[:, 42:48] = [44, 30]
    target = lmk.copy()
    target[..., 0] += 8
    plain = landmark_error(correspond(feats, noisy, temperature=0.1, masked=False), lmk,
                           target, 64)
    masked = landmark_error(correspond(feats, noisy, temperature=0.1, masked=True,
                                       margin=0.05), lmk, target, 64)
    assert masked["all"] < plain["all"]
    assert 0.7 < masked["reliable_fraction"] <= 0.85  # 20% marked unreliable (by cells)


def test_unreliable_rows_filled_from_query(feats):
    corr = correspond(feats, torch.randn_like(feats), unreliable=0.5)
    assert corr.reliable.float().mean() == pytest.approx(0.5, abs=0.05)
    q, e = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8) * 0.1 + 0.7
    out = fill_unreliable(corr, warp(corr, e), q, e)
    bad = ~corr.reliable.reshape(2, 1, 8, 8).expand(-1, 3, -1, -1)
    assert torch.allclose(out[bad].mean(), e.mean(), atol=0.05)   # exemplar's statistics


@pytest.mark.parametrize("kwargs,match", [({"unreliable": 1.0}, "unreliable"),
                                          ({"temperature": 0}, "temperature")])
def test_bad_settings(feats, kwargs, match):
    with pytest.raises(ValueError, match=match):
        correspond(feats, feats, **kwargs)


def test_mismatched_features_refused(feats):
    with pytest.raises(ValueError, match="same batch and channels"):
        correspond(feats, feats[:, :8])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        correspond(feats[0], feats[0])
