"""Layer-swap hybrids: the ends equal the two models, coarse/fine split, soft blend, bad cuts."""

from __future__ import annotations

import pytest
import torch

from stylelab.aligned import hybrid, layer_weights
from stylelab.models.stylespace import latent_owner


@pytest.fixture(scope="module")
def w(tiny):
    return tiny.sample_w(2, seed=3)


def render(G, w):
    with torch.no_grad():
        return G.synthesis(w)


def test_cut_ends_reproduce_each_model(tiny, fine_child, w):
    child = fine_child.generator
    assert torch.allclose(render(hybrid(tiny, child, tiny.num_ws), w), render(tiny, w))
    assert torch.allclose(render(hybrid(tiny, child, 0), w), render(child, w), atol=1e-6)
    assert torch.allclose(render(hybrid(child, tiny, 0), w), render(tiny, w), atol=1e-6)


def test_cut_takes_fine_layers_from_appearance_model(tiny, fine_child, w):
    child = fine_child.generator
    last = min(s.w_index for s in tiny.style_layers[-2:])  # the child's changed layers
    mixed = hybrid(tiny, child, last)  # the changed layers are all >= cut: the child's look
    assert torch.allclose(render(mixed, w), render(child, w), atol=1e-6)
    swapped = hybrid(child, tiny, last)  # the other way: all the parent's
    assert torch.allclose(render(swapped, w), render(tiny, w), atol=1e-6)
    assert latent_owner(mixed) == "tiny-test" and mixed.model_name.startswith("hybrid:")
    assert not any(p.requires_grad for p in mixed.parameters())


def test_soft_blend_is_between(tiny, fine_child, w):
    weights = layer_weights(tiny, 3, softness=1.5)
    values = [weights[s.name] for s in tiny.style_layers]
    assert values == sorted(values) and 0 < values[0] < 0.5 < values[-1] < 1
    child = fine_child.generator
    soft = render(hybrid(tiny, child, 0, softness=2.0), w)
    a, b = render(tiny, w), render(child, w)
    assert 0 < (soft - a).abs().mean() < (b - a).abs().mean()


@pytest.mark.parametrize("cut,softness,match", [(-1, 0, "between 0 and"), (99, 0, "between 0"),
                                                (3, -1, "softness"),
                                                (3, float("inf"), "finite")])
def test_bad_cuts_are_refused(tiny, fine_child, cut, softness, match):
    with pytest.raises(ValueError, match=match):
        hybrid(tiny, fine_child.generator, cut, softness)
