"""InterFaceGAN, conditional manipulation and the regression directions on constructed
labels whose true direction is known."""

import numpy as np
import pytest
import torch

from stylelab.directions.base import DirectionError
from stylelab.directions.interfacegan import (
    InterFaceGANConfig,
    condition,
    distance,
    interfacegan,
)
from stylelab.directions.measures import MeasuredSamples
from stylelab.directions.regression import (
    logistic_direction,
    mean_difference,
    paired_difference,
)


@pytest.fixture(scope="module")
def planted(tiny):
    """600 tiny-model W samples; "a" and "b" are noisy linear measures along known,
    correlated directions (cosine 0.6), like age and gender."""
    rng = np.random.default_rng(0)
    w = tiny.map(torch.tensor(rng.standard_normal((600, tiny.z_dim)), dtype=torch.float32))
    w = w.numpy().astype(np.float64)
    u = rng.standard_normal(tiny.w_dim)
    u /= np.linalg.norm(u)
    r = rng.standard_normal(tiny.w_dim)
    r -= (r @ u) * u
    r /= np.linalg.norm(r)
    v = 0.6 * u + 0.8 * r
    c = w - w.mean(0)
    scale = (c @ u).std()
    a = c @ u + 0.1 * scale * rng.standard_normal(600)
    b = c @ v + 0.1 * scale * rng.standard_normal(600)
    a[:5] = np.nan  # faces dlib could not find
    return MeasuredSamples(w, {"a": a, "b": b}, np.arange(600), 1.0), u, v


def cos(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def test_interfacegan_recovers_planted_normals(tiny, planted):
    """Clean labels: a weakly regularised SVM finds the planted normals (the default C is
    tuned for a few thousand noisy measured labels and leans towards the class means)."""
    samples, u, v = planted
    d = interfacegan(tiny, samples, ["a", "b"], InterFaceGANConfig(C=1.0))
    print(f"cos(a) {cos(d.vector('a'), u):.3f} cos(b) {cos(d.vector('b'), v):.3f}")
    assert cos(d.vector("a"), u) > 0.85 and cos(d.vector("b"), v) > 0.85
    assert d.metadata["boundaries"]["a"]["val_accuracy"] > 0.9
    assert d.metadata["boundaries"]["a"]["samples"] == 595
    score = distance(d, "a", torch.tensor(samples.w, dtype=torch.float32)).numpy()
    ok = np.isfinite(samples.measures["a"])
    assert np.corrcoef(score[ok], samples.measures["a"][ok])[0, 1] > 0.9


def test_conditional_removes_the_condition(tiny, planted):
    samples, u, v = planted
    d = interfacegan(tiny, samples, ["a", "b"], InterFaceGANConfig(C=1.0))
    c = condition(d, "a", ["b"])
    assert c.names == ["a|b"] and c.method == "interfacegan-conditional"
    assert abs(float(c.vectors[0] @ d.vector("b"))) < 1e-5
    assert cos(c.vectors[0], d.vector("a")) > 0.5
    # editing along it keeps b's score (boundary distance) fixed and moves a's by one spread
    w = torch.tensor(samples.w[:10], dtype=torch.float32)
    moved = w + c.scales[0] * c.vectors[0]
    torch.testing.assert_close(distance(d, "b", moved), distance(d, "b", w), atol=1e-4, rtol=0)
    gain = (distance(d, "a", moved) - distance(d, "a", w)).mean()
    torch.testing.assert_close(gain, d.scales[0], atol=1e-3, rtol=1e-3)
    with pytest.raises(DirectionError, match="itself"):
        condition(d, "a", ["a"])


def test_too_few_labels(tiny, planted):
    samples, *_ = planted
    small = MeasuredSamples(samples.w[:40], {"a": samples.measures["a"][:40]},
                            samples.seeds[:40], 1.0)
    with pytest.raises(DirectionError, match="too few labelled samples for 'a'"):
        interfacegan(tiny, small, ["a"], InterFaceGANConfig(min_per_class=20))
    flat = MeasuredSamples(samples.w, {"a": np.ones(600)}, samples.seeds, 1.0)
    with pytest.raises(DirectionError, match="does not vary"):
        interfacegan(tiny, flat, ["a"])
    with pytest.raises(DirectionError, match="no measure 'zz'"):
        interfacegan(tiny, samples, ["zz"])


def test_mean_difference_and_logistic(tiny, planted):
    samples, u, _ = planted
    a = samples.measures["a"]
    ok = np.isfinite(a)
    labels = a[ok] > np.median(a[ok])
    md = mean_difference(tiny, samples.w[ok], labels, "a")
    lr = logistic_direction(tiny, samples.w[ok], labels, "a", C=10.0)
    print(f"mean-difference {cos(md.vectors[0], u):.3f} logistic {cos(lr.vectors[0], u):.3f}")
    assert cos(lr.vectors[0], u) > 0.8
    # W is anisotropic: the class-mean shift follows the covariance times the normal
    cov_u = np.cov(samples.w[ok].T) @ u
    print(f"mean-difference vs cov @ normal {cos(md.vectors[0], cov_u):.3f}")
    assert cos(md.vectors[0], cov_u) > 0.9
    assert md.metadata["positives"] + md.metadata["negatives"] == ok.sum()
    with pytest.raises(DirectionError, match="too few labelled samples"):
        mean_difference(tiny, samples.w[:3], np.array([True, False, False]), "a")


def test_paired_difference_is_the_mean_pair_shift(tiny):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((5, tiny.w_dim))
    shift = rng.standard_normal(tiny.w_dim)
    d = paired_difference(tiny, base + shift, base, "p")
    assert cos(d.vectors[0], shift) > 0.999
    with pytest.raises(DirectionError, match="equal shapes"):
        paired_difference(tiny, base, base[:3], "p")
