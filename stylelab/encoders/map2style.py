"""pSp's "map2style" head (GradualStyleBlock, Richardson et al. 2021): a feature map to latent codes.

``Map2Style(in_ch, spatial, w_dim)`` applies ``ceil(log2(spatial))`` 3x3 stride-2 convolutions
(each followed by LeakyReLU 0.2) that bring an ``(N, in_ch, spatial, spatial)`` map down to 1x1,
then one linear layer to ``count`` codes of ``w_dim`` values: ``(N, count, w_dim)``.

pSp uses one block of 512 channels per W+ entry. To keep an encoder within a few MB of fp16
weights, ``hidden`` sets the convolution width and ``count > 1`` lets one block emit the codes of
a group of W+ entries (the convolutions are shared, the last linear layer is not): with
``count=1`` and ``hidden=in_ch`` it is pSp's block.

The codes are *offsets* (the encoders add them to ``G.w_avg``); the last layer starts scaled
down by ``out_scale`` so that an untrained encoder predicts codes near the average latent.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def num_downsamplings(spatial: int) -> int:
    """How many stride-2 convolutions bring ``spatial`` pixels to 1 (at least one)."""
    if spatial < 1:
        raise ValueError(f"spatial must be >= 1, got {spatial}")
    return max(1, math.ceil(math.log2(spatial)))


class Map2Style(nn.Module):
    """``(N, in_ch, spatial, spatial)`` feature map -> ``(N, count, w_dim)`` codes (unbounded).

    ``hidden``: convolution width (default ``in_ch``); ``count``: codes per block;
    ``out_scale``: factor on the initial weights of the last linear layer.
    Maps of another size work too (the last stage is average-pooled to 1x1).
    """

    def __init__(self, in_ch: int, spatial: int, w_dim: int, hidden: int | None = None,
                 count: int = 1, out_scale: float = 0.1):
        super().__init__()
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        hidden = int(hidden or in_ch)
        self.in_ch, self.spatial, self.w_dim, self.count = in_ch, spatial, w_dim, count
        layers: list[nn.Module] = []
        c = in_ch
        for _ in range(num_downsamplings(spatial)):
            layers += [nn.Conv2d(c, hidden, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            c = hidden
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(hidden, w_dim * count)
        with torch.no_grad():
            self.linear.weight.mul_(out_scale)
            self.linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ValueError(f"expected (N, {self.in_ch}, H, W) maps, got {tuple(x.shape)}")
        h = self.convs(x).mean(dim=(2, 3))  # (N, hidden): already 1x1 at the nominal size
        return self.linear(h).view(x.shape[0], self.count, self.w_dim)


def layer_groups(num_ws: int) -> tuple[int, int, int]:
    """pSp's split of the W+ entries into coarse / medium / fine groups, scaled from its
    3 / 4 / 11 of 18: ``(n_coarse, n_medium, n_fine)``, summing to ``num_ws``. Coarse codes
    come from the coarsest pyramid level T1, medium from T2, fine from T3."""
    if num_ws < 1:
        raise ValueError(f"num_ws must be >= 1, got {num_ws}")
    if num_ws < 3:
        return (1, num_ws - 1, 0) if num_ws == 2 else (1, 0, 0)
    coarse = max(1, round(num_ws * 3 / 18))
    medium = max(1, round(num_ws * 7 / 18) - coarse)
    return coarse, medium, num_ws - coarse - medium
