"""GANSpace (Härkönen et al. 2020): principal components of W over many mapped z.

The components are ordered by explained variance; ``Direction.scales`` holds each
component's standard deviation, so strength 1 moves one sigma, and layer-wise edits
(component k on W+ layers i..j) are :func:`~.base.edit_w` with ``layers=(i, j)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.base import StyleGenerator
from ..models.stylespace import latent_signature
from .base import Direction, DirectionError


@dataclass(frozen=True)
class GANSpaceConfig:
    """``samples`` mapped z (truncation 1), ``components`` kept (at most ``w_dim``), RNG
    ``seed``."""

    samples: int = 100_000
    components: int = 80
    batch_size: int = 10_000
    seed: int = 0


def pca(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``x: (N, D)`` -> (mean (D,), components (k, D) unit rows, variances (all D))."""
    mean = x.mean(0)
    cov = torch.cov((x - mean).T)
    variances, vectors = torch.linalg.eigh(cov)
    order = variances.argsort(descending=True)
    variances, vectors = variances[order].clamp_min(0), vectors[:, order]
    comps = vectors[:, :k].T
    # sign convention: the largest-magnitude entry of each component is positive
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    return mean, comps * signs, variances


def ganspace(G: StyleGenerator, config: GANSpaceConfig = GANSpaceConfig(),
             progress: bool = True) -> Direction:
    """PCA of W. Names ``pc0 .. pc{K-1}``; ``metadata``: ``explained_variance_ratio`` (all
    components, so spectra can be plotted), ``mean`` (w_dim list)."""
    if config.components < 1:
        raise DirectionError(f"components must be >= 1, got {config.components}")
    k = min(config.components, G.w_dim)
    if config.samples <= G.w_dim:
        raise DirectionError(f"PCA of a {G.w_dim}-D space needs more than {G.w_dim} samples")
    with torch.no_grad():
        w = G.sample_w(config.samples, seed=config.seed, batch_size=config.batch_size).double().cpu()
    mean, comps, variances = pca(w, k)
    ratio = variances / variances.sum()
    return Direction(
        names=[f"pc{i}" for i in range(k)], vectors=comps.float(),
        scales=variances[:k].sqrt().float(), space="w", model=G.model_name,
        method="ganspace", signature=latent_signature(G, "w"),
        metadata={"explained_variance_ratio": ratio.tolist(), "mean": mean.tolist(),
                  "samples": config.samples, "seed": config.seed})
