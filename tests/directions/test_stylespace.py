"""StyleSpace: Hutchinson localisation against the finite-difference definition, the θ
detector on a planted channel, and the attribute-dependency metric."""

import numpy as np
import pytest
import torch

from stylelab.directions.base import DirectionError, apply_edits
from stylelab.models.stylespace import flatten_styles, unflatten_styles
from stylelab.directions.measures import MeasuredSamples
from stylelab.directions.stylespace import REGIONS, attribute_channels, attribute_dependency, channel_direction, disjoint_regions, localise_channels
from stylelab.models.stylespace import style_std
from stylelab.faces.identity import canonical_landmarks


def test_disjoint_regions_partition_the_image():
    masks = disjoint_regions(canonical_landmarks(64).numpy(), 64, 64)
    assert masks.shape == (len(REGIONS), 64, 64)
    torch.testing.assert_close(masks.sum(0), torch.ones(64, 64), atol=1e-4, rtol=0)
    mouth = masks[REGIONS.index("mouth")]
    ys, xs = np.nonzero(mouth.numpy() > 0.5)
    assert 38 < ys.mean() < 54 and 24 < xs.mean() < 40  # lower middle of an FFHQ face


def exact_energy(G, w, landmarks, channels, std, size, eps=1e-2):
    """The definition: per-region squared image change for a one-sigma channel step
    (finite differences, one forward pass per channel)."""
    masks = disjoint_regions(landmarks, size, size)
    with torch.no_grad():
        flat = flatten_styles(G, G.w_to_s(w))
        base = G.synthesis(unflatten_styles(G, flat), size=size)
        out = torch.zeros(len(REGIONS), len(channels))
        for j, c in enumerate(channels):
            moved = flat.clone()
            moved[0, c] += eps
            d = (G.synthesis(unflatten_styles(G, moved), size=size) - base) / eps * std[c]
            out[:, j] = (d.square().sum(1)[0] * masks).sum((1, 2))
    return out


def test_hutchinson_matches_finite_differences(tiny):
    w = tiny.map(torch.randn(1, tiny.z_dim, generator=torch.Generator().manual_seed(0)))
    lm = canonical_landmarks(64).numpy()
    std = style_std(tiny, 500)
    loc = localise_channels(tiny, w, [lm], probes=256, size=64, std=std, progress=False)
    channels = list(range(0, flatten_styles(tiny, tiny.w_to_s(w)).shape[1], 7))
    exact = exact_energy(tiny, w, lm, channels, std, 64)
    est = loc.energy[:, channels]
    cos = torch.nn.functional.cosine_similarity(est.flatten(), exact.flatten(), dim=0)
    share_cos = torch.nn.functional.cosine_similarity(
        loc.share[:, channels].flatten(), (exact / exact.sum(0).clamp_min(1e-20)).flatten(), dim=0)
    print(f"Hutchinson vs finite differences: energy cosine {cos:.4f}, share cosine {share_cos:.4f}")
    assert cos > 0.95 and share_cos > 0.95
    assert loc.area.sum() == pytest.approx(1.0, abs=1e-3)
    top = loc.top_channels("hair", 5)
    assert len(top) == 5 and all(loc.share[REGIONS.index("hair"), c] > 0 for c in top)


def test_theta_finds_a_planted_channel(tiny):
    gen = torch.Generator().manual_seed(1)
    w = tiny.map(torch.randn(400, tiny.z_dim, generator=gen))
    flat = flatten_styles(tiny, tiny.w_to_s(w))
    c = 17
    measure = (-flat[:, c] + 0.05 * flat[:, c].std() * torch.randn(400, generator=gen)).numpy()
    samples = MeasuredSamples(w.numpy(), {"m": measure.astype(np.float64)}, np.arange(400), 1.0)
    theta = attribute_channels(tiny, samples, "m", fraction=0.1)
    assert int(theta.abs().argmax()) == c and theta[c] < 0  # the attribute lowers channel c
    with pytest.raises(DirectionError, match="too few labelled samples"):
        attribute_channels(tiny, samples, "m", fraction=0.01)


def test_channel_direction_edits_one_channel_by_sigmas(tiny):
    std = style_std(tiny, 500)
    d = channel_direction(tiny, [3, 40], ["x", "y"], signs=[1, -1], std=std)
    w = tiny.map(torch.randn(1, tiny.z_dim))
    styles = apply_edits(tiny, w, [(d, "y", 2.0, None)])
    delta = flatten_styles(tiny, styles) - flatten_styles(tiny, tiny.w_to_s(w))
    assert float(delta[0, 40]) == pytest.approx(-2 * float(std[40]), rel=1e-4)
    assert float(delta.abs().sum() - delta[0, 40].abs()) < 1e-5
    assert d.metadata["channels"][0].endswith(":3") or ":" in d.metadata["channels"][0]


def test_attribute_dependency():
    before = {"t": np.array([0.0, 0.0]), "o1": np.array([1.0, 1.0]), "o2": np.array([0.0, np.nan])}
    after = {"t": np.array([2.0, 4.0]), "o1": np.array([1.5, 0.5]), "o2": np.array([1.0, 5.0])}
    ad = attribute_dependency(before, after, "t", {"t": 2.0, "o1": 0.5, "o2": 1.0})
    assert ad["target_change"] == pytest.approx(1.5)  # mean of (2, 4) / 2
    assert ad["change:o1"] == pytest.approx(0.0)
    assert ad["ad"] == pytest.approx((1.0 + 1.0) / 2)  # o1 |±0.5|/0.5 = 1; o2 1/1 (NaN dropped)
