"""Small building blocks shared by the generators."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each row of ``x: (N, D)`` to unit RMS."""
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + eps)


class MappingMLP(nn.Module):
    """StyleGAN2 mapping with effective (already equalised) weights.

    ``z: (N, z_dim)`` -> pixel norm -> ``num_layers`` x (linear, leaky ReLU 0.2, x sqrt 2)
    -> ``w: (N, w_dim)``.
    """

    def __init__(self, z_dim: int = 512, w_dim: int = 512, num_layers: int = 8):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z)
        for layer in self.layers:
            x = F.leaky_relu(layer(x), 0.2) * math.sqrt(2.0)
        return x


def haar_idwt(x: torch.Tensor) -> torch.Tensor:
    """One level of the inverse Haar wavelet transform (pytorch_wavelets db1 layout).

    ``x: (N, 4C, H, W)`` holds the low band in channels ``[0, C)`` and the three
    high bands interleaved per channel in ``[C, 4C)`` (channel ``C + 3c + k`` is
    band ``k`` in (LH, HL, HH) of channel ``c``). Returns ``(N, C, 2H, 2W)`` with
    ``out[2i+a, 2j+b] = (ll + sa*lh + sb*hl + sa*sb*hh) / 2``, ``s0 = +1, s1 = -1``.

    Works in NHWC internally, so the result has channels-last strides (fast
    for the convolutions that follow on CPU); values do not depend on layout.
    """
    n, c4, h, w = x.shape
    c = c4 // 4
    nhwc = x.permute(0, 2, 3, 1)
    ll = nhwc[..., :c]
    high = nhwc[..., c:].reshape(n, h, w, c, 3)
    lh, hl, hh = high.unbind(-1)
    a, b = ll + lh, ll - lh
    d, e = hl + hh, hl - hh
    top = torch.stack((a + d, a - d), dim=3)  # (N, H, W, 2[b], C) for row offset a=0
    bottom = torch.stack((b + e, b - e), dim=3)  # a=1
    out = torch.stack((top, bottom), dim=2).mul_(0.5)  # (N, H, 2[a], W, 2[b], C)
    return out.reshape(n, 2 * h, 2 * w, c).permute(0, 3, 1, 2)


def haar_dwt(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_idwt`: ``(N, C, 2H, 2W)`` -> ``(N, 4C, H, W)``."""
    n, c, h2, w2 = x.shape
    sub = F.pixel_unshuffle(x, 2).reshape(n, c, 4, h2 // 2, w2 // 2)
    p00, p01, p10, p11 = sub.unbind(2)
    ll = (p00 + p01 + p10 + p11) * 0.5
    lh = (p00 + p01 - p10 - p11) * 0.5
    hl = (p00 - p01 + p10 - p11) * 0.5
    hh = (p00 - p01 - p10 + p11) * 0.5
    high = torch.stack((lh, hl, hh), dim=2).reshape(n, 3 * c, h2 // 2, w2 // 2)
    return torch.cat((ll, high), dim=1)
