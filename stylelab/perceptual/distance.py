"""LPIPS-style perceptual distance over any :class:`~stylelab.perceptual.backbones.Backbone`.

For images ``a``, ``b`` and each feature layer ``l`` of the backbone (Zhang et al. 2018):

    d(a, b) = sum_l  mean_{h,w}  sum_c  w_lc * (f_l(a)_chw / |f_l(a)_hw| - f_l(b)_chw / |f_l(b)_hw|)^2

where ``|f_hw|`` is the channel-wise L2 norm at each position (features are "unit-normalised
in the channel dimension"). ``w_lc`` are LPIPS's calibrated linear heads when the backbone
carries them (``backbone.channel_weights``, e.g. ``lpips-vgg`` online), else 1 (the
uncalibrated "baseline" variant of the paper): then the per-layer distances are in [0, 4].

Offline the default ``vgg16`` backbone is the HED-tuned VGG16 trunk, so the numbers are
*not* LPIPS numbers and must not be compared with published LPIPS values; they rank
distortions the same way (see ``tests/perceptual/test_distance.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .backbones import Backbone, load_backbone

EPS = 1e-10


def unit_normalise(f: torch.Tensor) -> torch.Tensor:
    """``(N, C, H, W)`` -> the same divided by its channel L2 norm at each position."""
    return f / (f.pow(2).sum(1, keepdim=True).sqrt() + EPS)


class PerceptualDistance(nn.Module):
    """``PerceptualDistance(backbone)(a, b) -> (N,)``: build once, call in a loop.

    ``layers``: which of ``backbone.layers`` to use (default: all); ``resize``: resample both
    images to this side first (default: as given). Differentiable in ``a`` and ``b``."""

    def __init__(self, backbone: Backbone | str = "vgg16", layers: Sequence[str] | None = None,
                 resize: int | None = None):
        super().__init__()
        self.backbone = load_backbone(backbone) if isinstance(backbone, str) else backbone
        self.layers = tuple(layers or self.backbone.layers)
        unknown = set(self.layers) - set(self.backbone.layers)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)} for {self.backbone.name}; "
                             f"valid: {', '.join(self.backbone.layers)}")
        self.resize = resize

    @property
    def calibrated(self) -> bool:
        return getattr(self.backbone, "channel_weights", None) is not None

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        self.backbone.check_images(x)
        if self.resize and x.shape[-1] != self.resize:
            x = nn.functional.interpolate(x, size=(self.resize, self.resize), mode="bilinear",
                                          align_corners=False, antialias=True)
        return x

    def _normalised(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.backbone.features(x, layers=self.layers)
        return {name: unit_normalise(feats[name]) for name in self.layers}

    def _compare(self, fa: dict[str, torch.Tensor], fb: dict[str, torch.Tensor]
                 ) -> dict[str, torch.Tensor]:
        weights = getattr(self.backbone, "channel_weights", None) or {}
        out = {}
        for name in self.layers:
            diff = (fa[name] - fb[name]).pow(2)
            if name in weights:
                diff = diff * weights[name].view(1, -1, 1, 1).to(diff)
            out[name] = diff.sum(1).mean((1, 2))
        return out

    def layer_distances(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{layer: (N,)}`` distance per layer (their sum is :meth:`forward`)."""
        if a.shape != b.shape:
            raise ValueError(f"images must have the same shape, got {tuple(a.shape)} "
                             f"and {tuple(b.shape)}")
        n = a.shape[0]
        both = self._normalised(torch.cat([self._prepare(a), self._prepare(b)]))
        return self._compare({k: v[:n] for k, v in both.items()},
                             {k: v[n:] for k, v in both.items()})

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a``, ``b``: (N, 3, H, W) in [-1, 1] -> (N,) distances (0 for identical images)."""
        return torch.stack(list(self.layer_distances(a, b).values())).sum(0)

    def against(self, b: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """``fn(a) -> (N,)``, the distance of ``a`` to the fixed ``b`` (1 or N images), whose
        features are computed once here: half the work per call of :meth:`forward` when
        one side never changes (an optimisation target)."""
        with torch.no_grad():
            fb = self._normalised(self._prepare(b))

        def distance(a: torch.Tensor) -> torch.Tensor:
            if a.shape[1:] != b.shape[1:]:
                raise ValueError(f"images must have the shape of the target "
                                 f"{tuple(b.shape[1:])}, got {tuple(a.shape[1:])}")
            fa = self._normalised(self._prepare(a))
            return torch.stack(list(self._compare(fa, fb).values())).sum(0)

        return distance


def perceptual_distance(a: torch.Tensor, b: torch.Tensor, net: Backbone | str = "vgg16",
                        layers: Sequence[str] | None = None) -> torch.Tensor:
    """One-off distance ``(N,)`` between ``a`` and ``b`` (N, 3, H, W) in [-1, 1].

    ``net``: a backbone name or object. A name loads the backbone on every call: in a loop
    build a :class:`PerceptualDistance` once instead."""
    return PerceptualDistance(net, layers).to(a.device)(a, b)
