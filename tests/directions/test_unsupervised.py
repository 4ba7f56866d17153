"""GANSpace and SeFa on the tiny generators, against constructions with known answers."""

import pytest
import torch

from stylelab.directions.base import DirectionError
from stylelab.directions.ganspace import GANSpaceConfig, ganspace, pca
from stylelab.directions.sefa import affine_weight, sefa
from stylelab.models.base import module_key


def test_pca_finds_the_planted_axis():
    gen = torch.Generator().manual_seed(0)
    axis = torch.nn.functional.normalize(torch.randn(16, generator=gen, dtype=torch.float64), dim=0)
    x = torch.randn(5000, 16, generator=gen, dtype=torch.float64) * 0.1
    x += torch.randn(5000, 1, generator=gen, dtype=torch.float64) * 3 * axis
    mean, comps, variances = pca(x, 3)
    assert abs(float(comps[0] @ axis)) > 0.999
    torch.testing.assert_close(comps @ comps.T, torch.eye(3, dtype=torch.float64))
    assert variances[0] == pytest.approx(9.0, rel=0.1)


def test_ganspace_on_tiny(tiny):
    d = ganspace(tiny, GANSpaceConfig(samples=4000, components=8), progress=False)
    assert d.names[:2] == ["pc0", "pc1"] and d.vectors.shape == (8, tiny.w_dim)
    ratio = d.metadata["explained_variance_ratio"]
    assert len(ratio) == tiny.w_dim and abs(sum(ratio) - 1) < 1e-6
    assert all(a >= b for a, b in zip(ratio, ratio[1:]))
    assert all(a >= b for a, b in zip(d.scales.tolist(), d.scales[1:].tolist()))
    with pytest.raises(DirectionError, match="more than"):
        ganspace(tiny, GANSpaceConfig(samples=10, components=8))


def test_affine_weight_is_the_linear_part(tiny):
    name = tiny.style_layers[0].name
    A = affine_weight(tiny, name).float()
    w = torch.randn(3, tiny.w_dim)
    affine = tiny.affines[module_key(name)]
    zero = affine(torch.zeros(1, tiny.w_dim))
    torch.testing.assert_close(affine(w) - zero, w @ A.T, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("model", ["tiny-test", "tiny-stylegan2"])
def test_sefa_finds_a_planted_dominant_direction(model):
    """Give every affine in layers 0..2 a strong rank-one component along v: SeFa's first
    direction there must be v, and a range that excludes those layers must not find it."""
    from stylelab import load_generator

    G = load_generator(model)
    gen = torch.Generator().manual_seed(0)
    v = torch.nn.functional.normalize(torch.randn(G.w_dim, generator=gen), dim=0)
    with torch.no_grad():
        for layer in G.style_layers:
            if layer.w_index < 2:
                A = affine_weight(G, layer.name).float()
                boost = 20 * A.norm(dim=1, keepdim=True) * torch.randn(A.shape[0], 1, generator=gen)
                _add_to_affine(G, layer.name, boost * v)
    d = sefa(G, (0, 2), components=4)
    assert d.layers == (0, 2) and d.vectors.shape == (4, G.w_dim)
    assert abs(float(d.vectors[0] @ v)) > 0.95
    values = d.metadata["eigenvalues"]
    assert values == sorted(values, reverse=True)
    far = sefa(G, (3, G.num_ws), components=1)
    assert abs(float(far.vectors[0] @ v)) < 0.5
    with pytest.raises(DirectionError, match="outside this model"):
        sefa(G, (0, G.num_ws + 1))


def _add_to_affine(G, layer_name, delta):
    """Add ``delta (C, w_dim)`` to the linear part of an affine, whatever its form
    (plain Linear, or equalised-lr weight times a gain)."""
    affine = G.affines[module_key(layer_name)]
    weight = affine.weight
    before = affine_weight(G, layer_name).float()
    gain = (before.norm() / weight.norm()).item()  # eq-lr: weight * gain is the linear map
    weight.add_(delta / gain)
    after = affine_weight(G, layer_name).float()
    torch.testing.assert_close(after - before, delta, atol=1e-3, rtol=1e-3)
