"""Attribute-specific StyleSpace channels: rank channels by the θ detector, then keep, per
attribute, the candidate whose edit moves that attribute most and the others least
(measured: target change minus attribute dependency, both in the measures' sigmas)."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..models.base import StyleGenerator
from ..models.stylespace import channel_name, flatten_styles, s_dim, unflatten_styles
from .measures import FaceMeasurer, MeasuredSamples
from .stylespace import (
    attribute_channels,
    attribute_dependency,
    channel_direction,
    style_std,
)

DETECT_ATTRIBUTES = ("smile", "mouth_open", "eye_openness", "age", "gender", "yaw", "happy")


def edit_channel(G: StyleGenerator, w: torch.Tensor, channel: int, amount: float,
                 size: int = 256) -> torch.Tensor:
    """Images of ``w: (N, w_dim)`` with S channel ``channel`` shifted by ``amount``."""
    with torch.no_grad():
        flat = flatten_styles(G, G.w_to_s(w)).clone()
        flat[:, channel] += amount
        return G.synthesis(unflatten_styles(G, flat), size=size).cpu()


def detect_attribute_channels(G: StyleGenerator, samples: MeasuredSamples,
                              measurer: FaceMeasurer,
                              attributes: tuple[str, ...] = DETECT_ATTRIBUTES, *,
                              candidates: int = 6, faces: int = 12, sigmas: float = 10.0,
                              fraction: float = 0.1,
                              size: int = 256, progress: bool = True):
    """Direction (S space) with one channel per attribute, named by the attribute
    (``metadata["channels"]`` gives each one's ``layer:channel``).

    ``metadata["verification"][attr]``: per candidate channel, its θ, the measured target
    change and AD for a ``sigmas``-sigma edit of ``faces`` sample faces.
    """
    std = style_std(G)
    sigma = {k: float(np.nanstd(v)) for k, v in samples.measures.items()}
    w = torch.as_tensor(samples.w[:faces]).to(G.device)
    with torch.no_grad():
        before = measurer.measure(G.synthesis(w, size=size).cpu(), tuple(samples.measures))
    chosen, signs, report = [], [], {}
    for attr in tqdm(attributes, desc="detect S channels", disable=not progress):
        theta = attribute_channels(G, samples, attr, fraction)
        ranked = theta.abs().argsort(descending=True)[:candidates].tolist()
        rows = []
        for c in ranked:
            sign = 1.0 if theta[c] >= 0 else -1.0
            after = measurer.measure(edit_channel(G, w, c, sign * sigmas * float(std[c]), size),
                                     tuple(samples.measures))
            ad = attribute_dependency(before, after, attr, sigma)
            rows.append({"channel": channel_name(G, c), "index": c, "theta": float(theta[c]),
                         "target_change": ad["target_change"], "ad": ad["ad"]})
        best = max(rows, key=lambda r: np.nan_to_num(r["target_change"] - r["ad"], nan=-1e9))
        chosen.append(best["index"])
        signs.append(1.0 if best["theta"] >= 0 else -1.0)
        report[attr] = rows
    direction = channel_direction(G, chosen, list(attributes), signs, std,
                                  metadata={"verification": report, "sigmas": sigmas,
                                            "attributes": list(attributes)})
    assert direction.vectors.shape[1] == s_dim(G)
    return direction
