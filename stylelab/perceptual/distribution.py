"""Distribution distances between two sets of image features: Frechet distance and KID.

Both are computed here in float64 numpy, with no SciPy:

* :func:`frechet_distance` (Heusel et al. 2017): ``|mu_a - mu_b|^2 + tr(C_a + C_b -
  2 (C_a^1/2 C_b C_a^1/2)^1/2)``, the matrix square roots taken by symmetric eigen
  decomposition (exact for the PSD covariances, no complex parts to drop);
* :func:`kid` (Binkowski et al. 2018): the unbiased MMD^2 estimate with the cubic polynomial
  kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets, with its spread.

With EfficientNet-Lite (or VGG16) features these are real distribution distances, but they
are **not comparable with published Inception FID/KID numbers**: report them as
``FD-<backbone>`` / ``KID-<backbone>`` (:func:`metric_name`) and compare only numbers made
with the same backbone, image size and sample count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..latents import z_from_seeds
from ..models.base import StyleGenerator
from .backbones import Backbone

NOT_FID = "not comparable with published (Inception) FID/KID"


def metric_name(kind: str, backbone: Backbone | str) -> str:
    """``metric_name("FD", "efficientnet-lite0")`` -> ``"FD-EffNet-Lite0"``."""
    name = backbone if isinstance(backbone, str) else backbone.name
    short = name.replace("efficientnet-lite", "EffNet-Lite").replace("vgg16", "VGG16")
    return f"{kind}-{short}"


def _as_features(x: np.ndarray | torch.Tensor, what: str) -> np.ndarray:
    x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{what} must be (N, D) features with N >= 2, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} holds NaN or Inf")
    return x.astype(np.float64)


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(c)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def frechet_distance(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor
                     ) -> float:
    """Frechet distance between Gaussians fitted to ``(N_a, D)`` and ``(N_b, D)`` features."""
    a, b = _as_features(feats_a, "feats_a"), _as_features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    mu = a.mean(0) - b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    sa = _sqrt_psd(ca)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(sa @ cb @ sa), 0.0, None)).sum()
    return float(mu @ mu + np.trace(ca) + np.trace(cb) - 2.0 * cross)


@dataclass(frozen=True)
class KIDResult:
    """``mean`` and ``std`` of the unbiased MMD^2 over ``subsets`` subsets of ``subset_size``."""

    mean: float
    std: float
    subsets: int
    subset_size: int

    @property
    def stderr(self) -> float:
        """Standard error of ``mean`` (treating subsets as independent: a lower bound when
        subsets overlap, i.e. when ``subsets * subset_size`` exceeds the sample count)."""
        return self.std / np.sqrt(self.subsets)

    def __str__(self) -> str:
        return f"{self.mean:.5f} +- {self.std:.5f}"


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d, m = x.shape[1], x.shape[0]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(off - 2.0 * kxy.mean())


def kid(feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor, *,
        subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> KIDResult:
    """Kernel inception distance (any features): unbiased, so its expectation is 0 for two
    samples of one distribution (single values may be negative). ``subset_size`` is capped
    at the smaller sample count."""
    a, b = _as_features(feats_a, "feats_a"), _as_features(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    vals = [_mmd2_unbiased(a[rng.choice(len(a), m, replace=False)],
                           b[rng.choice(len(b), m, replace=False)]) for _ in range(subsets)]
    return KIDResult(float(np.mean(vals)), float(np.std(vals)), subsets, m)


@torch.no_grad()
def sample_features(G: StyleGenerator, n: int, backbone: Backbone, *, psi: float = 1.0,
                    size: int | None = None, first_seed: int = 0, batch_size: int = 16,
                    downsample_to: int | None = None, progress: bool = True) -> torch.Tensor:
    """``(n, backbone.embed_dim)`` embeddings of the faces of seeds ``first_seed ..
    first_seed + n - 1`` rendered at ``size`` (default: the model's native size).
    ``downsample_to``: resize each image to this side (antialiased) before embedding, e.g. to
    compare a 1024 px output with a 256 px head on equal terms."""
    size = G.check_size(size or G.resolution)
    out = []
    for start in tqdm(range(0, n, batch_size), desc=f"features ({backbone.name})",
                      disable=not progress):
        seeds = list(range(first_seed + start, first_seed + min(n, start + batch_size)))
        w = G.map(z_from_seeds(seeds, G.z_dim).to(G.device), psi)
        images = G.synthesis(w, size=size).clamp(-1, 1)
        if downsample_to and downsample_to != size:
            images = torch.nn.functional.interpolate(
                images, size=(downsample_to, downsample_to), mode="bilinear",
                align_corners=False, antialias=True)
        out.append(backbone.embed(images.to(next(backbone.parameters()).device)).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, backbone.embed_dim)
