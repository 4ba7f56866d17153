"""Zero-shot regression: a regressor on latents recovers a planted linear attribute."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylelab.aligned import correlation, fit_regressor


def test_regressor_recovers_planted_attribute():
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(400, 6, 16, generator=gen)
    direction = torch.randn(16, generator=gen)
    labels = (w[:, :2] @ direction).sum(1).numpy() + 3.0
    labels[::50] = np.nan  # unlabeled faces are skipped
    reg = fit_regressor(w[:300], labels[:300], layers=2, ridge=1.0)
    pred = reg.predict(w[300:])
    assert correlation(pred, labels[300:]) > 0.99
    late = fit_regressor(w[:300], labels[:300], layers=1, ridge=1.0)  # sees half the signal
    assert correlation(late.predict(w[300:]), labels[300:]) < 0.9
    assert reg.classify(w[300:], threshold=3.0).dtype == bool


def test_w_latents_broadcast_and_bad_shapes():
    w = torch.randn(50, 8)
    reg = fit_regressor(w, w[:, 0].numpy(), layers=3)
    assert reg.predict(w).shape == (50,)
    with pytest.raises(ValueError, match="two finite labels"):
        fit_regressor(w, np.full(50, np.nan))
    with pytest.raises(ValueError, match="latents must be"):
        reg.predict(torch.randn(5, 2, 8))
    assert np.isnan(correlation([1, 2], [1, 2]))
