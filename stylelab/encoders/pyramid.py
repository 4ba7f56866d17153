"""pSp's feature pyramid over any :class:`~stylelab.perceptual.backbones.Backbone`.

Three backbone maps, finest to coarsest (``layers``, default the backbone's last three; the
encoders take EfficientNet-Lite0's ``s4, s8, s16``: 1/4, 1/8, 1/16 of the input, like pSp's
IR-SE50 levels at 64, 32, 16 px for a 256 px face), are projected to ``out_channels`` by
lateral 1x1 convolutions and merged top-down as in FPN (Lin et al. 2017) and pSp:

    T1 = lat1(c_coarsest)
    T2 = up(T1) + lat2(c_middle)
    T3 = up(T2) + lat3(c_finest)          (up: bilinear to the finer map's size)

pSp and CLCAE use IR-SE50 with face-recognition weights; those are not available offline, so
stylelab uses EfficientNet-Lite0 with ImageNet weights (from :mod:`stylelab.perceptual`).

The backbone is fine-tuned with the rest of the encoder: the pyramid switches its gradients on
(``trainable=True``). :meth:`Backbone.train` keeps a backbone in eval mode, so its batch-norm
statistics stay the ImageNet ones; with the batch sizes a CPU affords (4-16) that is what one
wants (pSp-style training with batch statistics needs large batches).

Maps a forward never reaches (EfficientNet's stages after ``s16``, its head and classifier)
are found once with forward hooks; :meth:`used_backbone_keys` names the state-dict entries
that matter, so saved encoders leave the rest out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..perceptual.backbones import Backbone, load_backbone


@dataclass(frozen=True)
class PyramidFeatures:
    """``t1``: (N, C, H1, W1) coarsest; ``t2``: (N, C, H2, W2); ``t3``: (N, C, H3, W3) finest
    (C = ``out_channels``; unbounded values)."""

    t1: torch.Tensor
    t2: torch.Tensor
    t3: torch.Tensor


class FeaturePyramid(nn.Module):
    """``FeaturePyramid(backbone, layers=(fine, middle, coarse), out_channels=128)``;
    ``forward(images (N, 3, S, S) in [-1, 1]) -> PyramidFeatures``."""

    def __init__(self, backbone: Backbone | str, layers: Sequence[str] | None = None,
                 out_channels: int = 128, trainable: bool = True):
        super().__init__()
        self.backbone = load_backbone(backbone) if isinstance(backbone, str) else backbone
        names = tuple(layers) if layers else tuple(self.backbone.layers[-3:])
        if len(names) != 3:
            raise ValueError(f"a pyramid takes three backbone maps (finest to coarsest), got "
                             f"{list(names)}")
        order = [self.backbone.layers.index(n) if n in self.backbone.layers else -1
                 for n in names]
        if min(order) < 0 or not order[0] < order[1] < order[2]:
            raise ValueError(f"pyramid layers must be three of {list(self.backbone.layers)}, "
                             f"finest to coarsest; got {list(names)}")
        self.layers = names
        self.out_channels = out_channels
        ch = self.backbone.channels
        self.lateral = nn.ModuleList(nn.Conv2d(ch[n], out_channels, 1) for n in names)
        self._used: tuple[str, ...] | None = None
        self.set_trainable(trainable)

    def set_trainable(self, flag: bool = True) -> FeaturePyramid:
        """Switch the backbone's gradients on (fine-tuning) or off (frozen); parameters a
        forward never reaches stay off."""
        self.backbone.requires_grad_(flag)
        if flag:
            used = set(self.used_backbone_keys())
            for name, param in self.backbone.named_parameters():
                param.requires_grad_(name in used)
        return self

    def forward(self, images: torch.Tensor) -> PyramidFeatures:
        maps = self.backbone.features(images, self.layers)
        fine, mid, coarse = (maps[n] for n in self.layers)
        t1 = self.lateral[2](coarse)
        t2 = _upsample_add(t1, self.lateral[1](mid))
        t3 = _upsample_add(t2, self.lateral[0](fine))
        return PyramidFeatures(t1, t2, t3)

    @torch.no_grad()
    def shapes(self, size: int) -> dict[str, tuple[int, int, int]]:
        """``{"t1": (C, H, W), "t2": ..., "t3": ...}`` for ``size`` x ``size`` inputs."""
        p = self(torch.zeros(1, 3, size, size, device=self.lateral[0].weight.device))
        return {k: tuple(getattr(p, k).shape[1:]) for k in ("t1", "t2", "t3")}

    def used_backbone_keys(self) -> tuple[str, ...]:
        """State-dict keys of the backbone (without the ``backbone.`` prefix) that a forward
        uses (see :func:`used_keys`)."""
        if self._used is None:
            self._used = used_keys(self.backbone, self.layers)
        return self._used


def used_keys(backbone: Backbone, layers: Sequence[str]) -> tuple[str, ...]:
    """State-dict keys of ``backbone`` that ``backbone.features(x, layers)`` uses: the
    parameters and buffers of every module the forward calls (found with forward hooks on
    a small probe image), and those of the backbone itself."""
    called: set[str] = set()
    hooks = [mod.register_forward_hook(lambda m, i, o, name=name: called.add(name))
             for name, mod in backbone.named_modules() if name]
    device = next(iter(backbone.state_dict().values()), torch.zeros(0)).device
    try:
        with torch.no_grad():
            size = max(32, getattr(backbone, "input_size", 32) // 4)
            backbone.features(torch.zeros(1, 3, size, size, device=device), layers)
    finally:
        for hook in hooks:
            hook.remove()
    return tuple(k for k in backbone.state_dict()
                 if "." not in k or k.rpartition(".")[0] in called)


def freeze_unused(backbone: Backbone, layers: Sequence[str]) -> int:
    """Switch off gradients of the backbone parameters a forward to ``layers`` never uses
    (so optimisers and DDP skip them); returns how many tensors were frozen."""
    used = set(used_keys(backbone, layers))
    frozen = 0
    for name, param in backbone.named_parameters():
        if name not in used and param.requires_grad:
            param.requires_grad_(False)
            frozen += 1
    return frozen


def _upsample_add(coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
    """``coarse`` resized (bilinear) to ``fine``'s size, plus ``fine``."""
    return F.interpolate(coarse, size=fine.shape[-2:], mode="bilinear",
                         align_corners=False) + fine
