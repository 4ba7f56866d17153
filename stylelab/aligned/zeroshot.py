"""Zero-shot attribute regression and classification through aligned latents (StyleAlign).

A linear regressor is fitted on the *parent's* latents (the first ``layers`` W+ entries,
which carry pose, age, gender and expression) against attribute labels measured on parent
images. Because a child shares the parent's latent space, the same regressor applied to the
latent of a child-domain image inverted *in the child* predicts the attribute of the
corresponding face, with no labelled image of the child domain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def _features(latents: torch.Tensor, layers: int) -> torch.Tensor:
    """``(N, w_dim)`` or ``(N, num_ws, w_dim)`` -> ``(N, layers * w_dim)`` float64."""
    x = latents.detach().double().cpu()
    if x.ndim == 2:
        x = x[:, None].expand(-1, layers, -1)
    if x.ndim != 3 or x.shape[1] < layers:
        raise ValueError(f"latents must be (N, w_dim) or (N, >={layers}, w_dim), got "
                         f"{tuple(latents.shape)}")
    return x[:, :layers].flatten(1)


@dataclass
class LatentRegressor:
    """``predict(latents) = features(latents) @ weight + bias`` (ridge on standardised inputs)."""

    weight: torch.Tensor
    bias: float
    mean: torch.Tensor
    layers: int

    def predict(self, latents: torch.Tensor) -> np.ndarray:
        return ((_features(latents, self.layers) - self.mean) @ self.weight + self.bias).numpy()

    def classify(self, latents: torch.Tensor, threshold: float = 0.5) -> np.ndarray:
        """For 0/1 labels (a linear probability model): predictions above ``threshold``."""
        return self.predict(latents) > threshold


def fit_regressor(latents: torch.Tensor, labels: np.ndarray, *, layers: int = 4,
                  ridge: float = 10.0) -> LatentRegressor:
    """Ridge regression of ``labels`` ``(N,)`` (NaN rows dropped) on the first ``layers``
    W+ entries of ``latents``."""
    y = torch.as_tensor(np.asarray(labels, dtype=np.float64))
    keep = torch.isfinite(y)
    if int(keep.sum()) < 2:
        raise ValueError("need at least two finite labels to fit a regressor")
    x = _features(latents, layers)[keep]
    y = y[keep]
    mean = x.mean(0)
    xc = x - mean
    gram = xc.T @ xc + ridge * torch.eye(xc.shape[1], dtype=xc.dtype)
    weight = torch.linalg.solve(gram, xc.T @ (y - y.mean()))
    return LatentRegressor(weight, float(y.mean()), mean, layers)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the entries where both are finite (NaN with < 3)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])
