"""The appearance measure: histogram properties, pose blindness by construction, training."""

from __future__ import annotations

import pytest
import torch

from stylelab.aligned import (
    AppearanceConfig,
    AppearanceModel,
    face_mask,
    load_appearance,
)
from stylelab.aligned.appearance import nt_xent, render_views, retrieval_accuracy
from stylelab.cache import CacheError


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return AppearanceModel(AppearanceConfig(filters=4, bins=5, size=32))


def test_histograms_sum_to_one_and_embeddings_unit(model):
    x = torch.rand(3, 3, 48, 48) * 2 - 1
    h = model.histogram(x)
    assert h.shape == (3, 4, 5) and torch.allclose(h.sum(-1), torch.ones(3, 4), atol=1e-5)
    e = model(x)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert model.similarity(x, x).min() > 0.999


def test_blind_to_position_inside_the_mask(model):
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    flat = torch.ones(1, 1, 32, 32)
    rolled = torch.roll(x, 7, dims=3)  # same pixels elsewhere (circular: same histogram ~)
    assert model.similarity(x, rolled, flat) > 0.98
    assert model.similarity(x, -x, flat) < model.similarity(x, rolled, flat)


def test_face_mask_is_a_centred_ellipse():
    m = face_mask(64)[0, 0]
    assert m.shape == (64, 64) and m[34, 32] > 0.99 and m[2, 2] < 0.01


def test_nt_xent_prefers_matching_pairs():
    a = torch.nn.functional.normalize(torch.randn(8, 16), dim=1)
    assert nt_xent(a, a) < nt_xent(a, a.roll(1, 0))


def test_views_and_retrieval(tiny, model):
    views = render_views(tiny, 4, 2, cut=3, filters=["none", "sepia"], size=32)
    assert views.shape == (4, 2, 3, 32, 32) and views.abs().max() <= 1
    assert 0 <= retrieval_accuracy(model, views) <= 1


def test_missing_measure_says_how_to_train():
    with pytest.raises(CacheError, match="train_appearance.py --model nope"):
        load_appearance("nope")
