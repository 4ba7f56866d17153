"""``tiny-backbone``: a small random conv net honouring the :class:`Backbone` contract, for
fast tests of code built on backbones (no weights, deterministic: a local seeded generator)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..perceptual.backbones import Backbone

TINY_BACKBONE = "tiny-backbone"


class TinyBackbone(Backbone):
    """Three 3x3 stride-2 convs + ReLU: ``c1`` (N, 8, H/2, W/2), ``c2`` (16, H/4),
    ``c3`` (32, H/8), sizes rounding up; ``embed`` (N, 32) pooled ``c3`` at 32px."""

    def __init__(self, seed: int = 0):
        super().__init__()
        self.name, self.input_size, self.embed_dim = TINY_BACKBONE, 32, 32
        self.layers = ("c1", "c2", "c3")
        self.channels = {"c1": 8, "c2": 16, "c3": 32}
        gen = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList()
        c_in = 3
        for c_out in self.channels.values():
            conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen)
                                  * (2.0 / (9 * c_in)) ** 0.5)
                conv.bias.copy_(torch.randn(c_out, generator=gen) * 0.1)
            self.convs.append(conv)
            c_in = c_out

    def _features(self, x: torch.Tensor, wanted: tuple[str, ...]) -> dict[str, torch.Tensor]:
        out = {}
        for name, conv in zip(self.layers[: self.deepest(wanted) + 1], self.convs):
            x = out[name] = F.relu(conv(x))
        return out


def tiny_backbone() -> TinyBackbone:
    return TinyBackbone()
