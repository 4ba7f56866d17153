"""Directions from labelled latents, the StyleGAN-encoder way (Puzer / pbaylies):

- :func:`mean_difference`: the mean latent of the positives minus that of the negatives;
- :func:`logistic_direction`: the weight vector of a logistic regression on the latents.

Both take ``w: (N, w_dim)`` or W+ ``(N, num_ws, w_dim)`` (averaged over layers for the
regression, kept per layer for the difference when ``per_layer=True``) and boolean labels;
with paired latents (same person, with and without the attribute) the mean difference is
the average of the pair differences. Inputs come from :mod:`.measures` or from inverting
two folders of photos (see :mod:`stylelab.pipelines.edit`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..models.base import StyleGenerator
from ..models.stylespace import latent_signature
from .base import Direction, DirectionError, spread_along

MIN_PER_CLASS = 2


def _check(G: StyleGenerator, w: np.ndarray, labels: np.ndarray, name: str,
           min_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(w, dtype=np.float64)
    labels = np.asarray(labels).astype(bool)
    if w.ndim == 3:
        w = w.mean(axis=1)
    if w.ndim != 2 or w.shape[1] != G.w_dim or len(w) != len(labels):
        raise DirectionError(f"need latents (N, {G.w_dim}) and N labels, got {w.shape} and "
                             f"{labels.shape}")
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if min(n_pos, n_neg) < min_per_class:
        raise DirectionError(f"too few labelled samples for {name!r}: {n_pos} with and {n_neg} "
                             f"without it; need at least {min_per_class} of each")
    return w, labels


def _direction(G: StyleGenerator, name: str, vector: np.ndarray, w: np.ndarray, method: str,
               info: dict) -> Direction:
    unit = vector / max(np.linalg.norm(vector), 1e-12)
    # the slider unit: the spread of G's own W distribution along the direction, as for every
    # other direction (the labelled latents, e.g. a few inverted photos, can be far off it)
    spread = float(spread_along(G, torch.tensor(unit[None]))[0]) or 1.0
    return Direction(names=[name], vectors=torch.tensor(unit[None]), scales=torch.tensor([spread]),
                     space="w", model=G.model_name, method=method,
                     signature=latent_signature(G, "w"), metadata=info)


def mean_difference(G: StyleGenerator, w: np.ndarray, labels: np.ndarray, name: str,
                    min_per_class: int = MIN_PER_CLASS) -> Direction:
    """Unit ``mean(w[labels]) - mean(w[~labels])``; ``metadata["length"]`` keeps its norm."""
    w, labels = _check(G, w, labels, name, min_per_class)
    diff = w[labels].mean(0) - w[~labels].mean(0)
    return _direction(G, name, diff, w, "mean-difference",
                      {"length": float(np.linalg.norm(diff)), "positives": int(labels.sum()),
                       "negatives": int((~labels).sum())})


def paired_difference(G: StyleGenerator, w_with: np.ndarray, w_without: np.ndarray,
                      name: str) -> Direction:
    """Mean of ``w_with[i] - w_without[i]`` over pairs of the same face."""
    a, b = np.asarray(w_with, np.float64), np.asarray(w_without, np.float64)
    if a.shape != b.shape or len(a) < 1:
        raise DirectionError(f"pairs must have equal shapes, got {a.shape} and {b.shape}")
    a, b = (a.mean(1), b.mean(1)) if a.ndim == 3 else (a, b)
    diff = (a - b).mean(0)
    return _direction(G, name, diff, np.concatenate([a, b]), "paired-difference",
                      {"length": float(np.linalg.norm(diff)), "pairs": len(a)})


def logistic_direction(G: StyleGenerator, w: np.ndarray, labels: np.ndarray, name: str,
                       C: float = 0.1, min_per_class: int = MIN_PER_CLASS) -> Direction:
    """Unit weight vector of an L2-regularised logistic regression ``labels ~ w``."""
    from sklearn.linear_model import LogisticRegression

    w, labels = _check(G, w, labels, name, min_per_class)
    model = LogisticRegression(C=C, max_iter=5000).fit(w, labels)
    return _direction(G, name, model.coef_[0], w, "logistic",
                      {"train_accuracy": float(model.score(w, labels)), "C": C,
                       "positives": int(labels.sum()), "negatives": int((~labels).sum())})
