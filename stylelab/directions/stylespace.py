"""StyleSpace (Wu et al. 2021): single S channels as edits, where they act, what they change.

- :func:`localise_channels`: how much each S channel changes each face region (mouth,
  eyes, brows, nose, rest of face, hair, background). The paper thresholds per-channel
  gradient maps; we estimate the same per-region Jacobian energy ``||J_r e_c||²`` for all
  channels at once with Hutchinson probes (``E_v[(vᵀ J_r e_c)²]``, v Gaussian on region
  r): ``regions x probes`` backward passes per image instead of one pass per channel.
- :func:`attribute_channels`: the paper's detector, ``θ_c = |μ_c(positives) - μ_c| / σ_c``
  over S codes of measured samples, ranks channels for an attribute.
- :func:`attribute_dependency`: the paper's AD metric, the mean change of the other
  measured attributes (in their standard deviations) when one attribute is edited.
- :func:`channel_direction`: S channels as a :class:`Direction` (one-hot vectors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ..faces.regions import region_masks
from ..models.base import StyleGenerator
from ..models.stylespace import (
    channel_name,
    flatten_styles,
    latent_signature,
    s_dim,
    style_std,
    unflatten_styles,
)
from .base import Direction, DirectionError
from .measures import MeasuredSamples

PARTS = ("mouth", "eyes", "brows", "nose")
REGIONS = (*PARTS, "face_other", "hair", "background")


def disjoint_regions(landmarks: np.ndarray, size: int, image_size: int) -> torch.Tensor:
    """``(7, size, size)`` masks for :data:`REGIONS` that sum to 1 at every pixel."""
    soft = region_masks(landmarks, size, image_size)
    parts = torch.stack([soft[p] for p in PARTS])
    parts = parts / parts.sum(0).clamp_min(1.0)  # overlapping parts share the pixel
    face = torch.maximum(soft["face"], parts.sum(0))
    rest = (face - parts.sum(0)).clamp_min(0)
    hair = soft["hair"] * (1 - face)
    background = (1 - face - hair).clamp_min(0)
    masks = torch.cat([parts, torch.stack([rest, hair, background])])
    return masks / masks.sum(0).clamp_min(1e-6)


@dataclass
class Localisation:
    """``energy: (7, S)`` mean image change per region for a one-sigma change of each
    channel; ``area: (7,)`` mean region share of the image. ``share``: energy fraction per
    region; ``lift``: share / area (> 1: the channel acts more there than elsewhere)."""

    energy: torch.Tensor
    area: torch.Tensor
    regions: tuple[str, ...] = REGIONS

    @property
    def share(self) -> torch.Tensor:
        return self.energy / self.energy.sum(0, keepdim=True).clamp_min(1e-20)

    @property
    def lift(self) -> torch.Tensor:
        return self.share / self.area[:, None]

    def top_channels(self, region: str, k: int = 10, min_energy_quantile: float = 0.5
                     ) -> list[int]:
        """The ``k`` channels with the largest share in ``region``, among channels whose
        total effect is above the ``min_energy_quantile`` (ignores near-dead channels)."""
        r = self.regions.index(region)
        total = self.energy.sum(0)
        alive = total >= total.quantile(min_energy_quantile)
        score = torch.where(alive, self.share[r], torch.zeros_like(total))
        return score.argsort(descending=True)[:k].tolist()


def localise_channels(G: StyleGenerator, w: torch.Tensor, landmarks: list[np.ndarray],
                      *, probes: int = 4, size: int = 256, std: torch.Tensor | None = None,
                      seed: int = 0, progress: bool = True) -> Localisation:
    """Per-region effect of every S channel, averaged over the faces ``w: (N, w_dim)``.

    ``landmarks``: one (68, 2) array per face in ``size`` pixels. Cost per face: one
    forward and ``7 * probes`` backward passes (batched over the probes).
    """
    std = style_std(G) if std is None else std
    gen = torch.Generator().manual_seed(seed)
    energy = torch.zeros(len(REGIONS), s_dim(G), dtype=torch.float64)
    area = torch.zeros(len(REGIONS), dtype=torch.float64)
    for i in tqdm(range(len(w)), desc="localise S channels", disable=not progress):
        masks = disjoint_regions(landmarks[i], size, size)
        area += masks.mean((1, 2)).double()
        with torch.no_grad():
            flat = flatten_styles(G, G.w_to_s(w[i:i + 1].to(G.device)))
        flat = flat.repeat(probes, 1).requires_grad_(True)
        image = G.synthesis(unflatten_styles(G, flat), size=size)
        for r in range(len(REGIONS)):
            v = torch.randn(image.shape, generator=gen) * masks[r].sqrt()
            (grad,) = torch.autograd.grad((image * v.to(image)).sum(), flat,
                                          retain_graph=r < len(REGIONS) - 1)
            energy[r] += (grad.cpu().double() * std.double()).square().mean(0)
    n = max(len(w), 1)
    return Localisation((energy / n).float(), (area / n).float())


def attribute_channels(G: StyleGenerator, samples: MeasuredSamples, attribute: str,
                       fraction: float = 0.1, min_positives: int = 10) -> torch.Tensor:
    """``(S,)`` θ score of every channel for ``attribute`` (top ``fraction`` = positives).
    The sign of the mean shift is kept: θ > 0 means the attribute raises the channel."""
    scores = samples.measures.get(attribute)
    if scores is None:
        raise DirectionError(f"no measure {attribute!r}; have {', '.join(samples.measures)}")
    valid = np.flatnonzero(np.isfinite(scores))
    k = int(len(valid) * fraction)
    if k < min_positives:
        raise DirectionError(f"too few labelled samples for {attribute!r}: {k} positives at "
                             f"fraction {fraction}, need {min_positives}. Label more faces.")
    pos = valid[np.argsort(scores[valid])[-k:]]
    with torch.no_grad():
        s = flatten_styles(G, G.w_to_s(torch.as_tensor(samples.w[valid]).to(G.device))).cpu()
        s_pos = flatten_styles(G, G.w_to_s(torch.as_tensor(samples.w[pos]).to(G.device))).cpu()
    return (s_pos.mean(0) - s.mean(0)) / s.std(0).clamp_min(1e-8)


def channel_direction(G: StyleGenerator, channels: list[int], names: list[str] | None = None,
                      signs: list[float] | None = None, std: torch.Tensor | None = None,
                      metadata: dict | None = None) -> Direction:
    """One-hot S directions for flat channel indices; strength 1 = one channel sigma
    (``std`` from :func:`style_std`); ``signs`` flip channels so + raises the attribute."""
    std = style_std(G) if std is None else std
    vectors = torch.zeros(len(channels), s_dim(G))
    for row, (c, sign) in enumerate(zip(channels, signs or [1.0] * len(channels))):
        vectors[row, c] = 1.0 if sign >= 0 else -1.0
    return Direction(names=names or [channel_name(G, c) for c in channels], vectors=vectors,
                     scales=std[channels].clone(), space="s", model=G.model_name,
                     method="stylespace", signature=latent_signature(G, "s"),
                     metadata={"channels": [channel_name(G, c) for c in channels],
                               **(metadata or {})})


Measure = Callable[[torch.Tensor], dict[str, np.ndarray]]


def attribute_dependency(before: dict[str, np.ndarray], after: dict[str, np.ndarray],
                         target: str, sigma: dict[str, float]) -> dict[str, float]:
    """AD of one edit from measures of the same faces before/after it.

    Returns ``target_change`` (mean signed change of ``target`` in its sigmas),
    ``ad`` (mean over the other attributes of the mean |change| in their sigmas), and
    ``change:<name>`` for every attribute. NaN measures (no face found) are ignored.
    """
    out, others = {}, []
    for name in before:
        delta = (after[name] - before[name]) / max(sigma.get(name, 1.0), 1e-12)
        value = float(np.nanmean(delta)) if np.isfinite(delta).any() else float("nan")
        out[f"change:{name}"] = value
        if name != target:
            others.append(float(np.nanmean(np.abs(delta))) if np.isfinite(delta).any()
                          else np.nan)
    out["target_change"] = out[f"change:{target}"]
    out["ad"] = float(np.nanmean(others)) if others else float("nan")
    return out
