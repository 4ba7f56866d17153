"""Exemplar correspondence by masked attention (after MATEBIT, Jiang et al. CVPR 2023).

For a query face and an exemplar in another domain, each query position attends over the
exemplar's positions with softmax attention on the cosine similarity of their (centred,
unit-norm) features. MATEBIT's two remedies for wrong matches are both here:

- *masked attention*: in each row only the exemplar positions whose similarity is within
  ``margin`` of the row's best survive the softmax (the rest are masked out), so a query
  position is not smeared over many weak matches;
- *unreliable rows*: positions whose best similarity is in the lowest ``unreliable``
  fraction are marked unreliable, and :func:`fill_unreliable` replaces their warped values
  by the query's own values renormalised to the exemplar's channel statistics (adaptive
  instance normalisation) instead of a bad match.

:func:`warp` moves exemplar values (features or pixels) to the query's layout,
:func:`warp_points` maps query positions to exemplar positions (the attention's expected
position), and :func:`landmark_error` scores a correspondence against known landmarks.
Features may be generator F features (one latent per image) or backbone feature maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class Correspondence:
    """``attention``: ``(N, Hq*Wq, He*We)`` rows summing to 1; ``confidence``: ``(N, Hq*Wq)``
    best cosine of each query position; ``reliable``: ``(N, Hq*Wq)`` bool."""

    attention: torch.Tensor
    confidence: torch.Tensor
    reliable: torch.Tensor
    query_size: tuple[int, int]
    exemplar_size: tuple[int, int]


def _tokens(features: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` -> ``(N, H*W, C)``, centred over positions and unit-norm per position."""
    if features.ndim != 4:
        raise ValueError(f"features must be (N, C, H, W), got {tuple(features.shape)}")
    x = features - features.mean(dim=(2, 3), keepdim=True)
    return F.normalize(x.flatten(2).transpose(1, 2), dim=-1)


def correspond(query: torch.Tensor, exemplar: torch.Tensor, *, temperature: float = 0.02,
               masked: bool = True, margin: float = 0.1, unreliable: float = 0.2
               ) -> Correspondence:
    """Attention from ``query`` ``(N, C, Hq, Wq)`` to ``exemplar`` ``(N, C, He, We)`` features.

    ``masked``: keep only entries with cosine >= the row's best minus ``margin``;
    ``unreliable``: the fraction of query positions (lowest confidence) marked unreliable."""
    if query.shape[:2] != exemplar.shape[:2]:
        raise ValueError(f"query and exemplar features must have the same batch and channels, "
                         f"got {tuple(query.shape)} and {tuple(exemplar.shape)}")
    if not 0 <= unreliable < 1:
        raise ValueError(f"unreliable must be in [0, 1), got {unreliable}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    cos = _tokens(query) @ _tokens(exemplar).transpose(1, 2)           # (N, Q, E)
    best = cos.max(-1).values
    logits = cos / temperature
    if masked:
        logits = logits.masked_fill(cos < best[..., None] - margin, float("-inf"))
    cutoff = torch.quantile(best, unreliable, dim=1, keepdim=True) if unreliable else None
    reliable = best >= cutoff if cutoff is not None else torch.ones_like(best, dtype=torch.bool)
    return Correspondence(logits.softmax(-1), best, reliable, tuple(query.shape[2:]),
                          tuple(exemplar.shape[2:]))


def warp(corr: Correspondence, values: torch.Tensor) -> torch.Tensor:
    """Exemplar ``values`` ``(N, C, H, W)`` (resized to the exemplar grid) in the query's
    layout: ``(N, C, Hq, Wq)``."""
    v = F.interpolate(values, size=corr.exemplar_size, mode="area") \
        if tuple(values.shape[2:]) != corr.exemplar_size else values
    out = corr.attention @ v.flatten(2).transpose(1, 2)               # (N, Q, C)
    return out.transpose(1, 2).reshape(len(v), v.shape[1], *corr.query_size)


def fill_unreliable(corr: Correspondence, warped: torch.Tensor, query_values: torch.Tensor,
                    exemplar_values: torch.Tensor) -> torch.Tensor:
    """``warped`` with its unreliable positions replaced by ``query_values`` normalised to the
    channel mean and std of ``exemplar_values`` (all resized to the query grid)."""
    q = F.interpolate(query_values, size=corr.query_size, mode="area")
    e = exemplar_values
    qm, qs = q.mean((2, 3), keepdim=True), q.std((2, 3), keepdim=True).clamp(min=1e-6)
    em, es = e.mean((2, 3), keepdim=True), e.std((2, 3), keepdim=True)
    adapted = (q - qm) / qs * es + em
    mask = corr.reliable.reshape(len(q), 1, *corr.query_size)
    return torch.where(mask, warped, adapted)


def _grid_xy(size: tuple[int, int]) -> torch.Tensor:
    """``(H*W, 2)`` cell centres as (x, y) fractions of the image side."""
    h, w = size
    ys, xs = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w,
                            indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], 1)


def _cells(corr: Correspondence, points: torch.Tensor, image_size: int) -> torch.Tensor:
    """The query-grid cell (row of the attention) each point ``(N, K, 2)`` falls in."""
    hq, wq = corr.query_size
    cell = (points / image_size).clamp(0, 1 - 1e-6)
    return (cell[..., 1] * hq).long() * wq + (cell[..., 0] * wq).long()


def warp_points(corr: Correspondence, points: torch.Tensor, image_size: int) -> torch.Tensor:
    """Query points ``(N, K, 2)`` (x, y pixels of a ``image_size`` image) -> the exemplar
    positions they correspond to ``(N, K, 2)`` (expected position under the attention row
    of the query cell each point falls in)."""
    rows = _cells(corr, points, image_size)                              # (N, K)
    att = torch.gather(corr.attention, 1,
                       rows[..., None].expand(-1, -1, corr.attention.shape[-1]))
    return att @ _grid_xy(corr.exemplar_size).to(att) * image_size


def landmark_error(corr: Correspondence, query_landmarks: np.ndarray,
                   exemplar_landmarks: np.ndarray, image_size: int) -> dict[str, float]:
    """Landmark accuracy of a correspondence: the query's landmarks ``(N, K, 2)`` mapped into
    the exemplar against the exemplar's own ``(N, K, 2)``, in units of the exemplar's
    inter-ocular distance (68-point layout). "all" / "median": mean / median over every
    landmark; "reliable":
    over those in reliable cells; "reliable_fraction"; "pck10": fraction within 0.1."""
    q = torch.as_tensor(np.asarray(query_landmarks), dtype=torch.float32)
    e = torch.as_tensor(np.asarray(exemplar_landmarks), dtype=torch.float32)
    mapped = warp_points(corr, q, image_size)
    eyes = (e[:, 36:42].mean(1) - e[:, 42:48].mean(1)).norm(dim=-1)          # (N,)
    err = (mapped - e).norm(dim=-1) / eyes[:, None]                          # (N, K)
    ok = torch.gather(corr.reliable, 1, _cells(corr, q, image_size))
    return {"all": float(err.mean()), "median": float(err.median()),
            "pck10": float((err < 0.1).float().mean()),
            "reliable": float(err[ok].mean()) if ok.any() else float("nan"),
            "reliable_fraction": float(ok.float().mean())}
