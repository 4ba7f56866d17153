"""MobileStyleGAN (Belousov, arXiv 2104.04767) as a readable PyTorch module.

Synthesis, top to bottom, for ``channels = (512, 512, 512, 512, 512, 256, 128, 64)``::

    const (512, 4, 4)
    conv1     3x3 modulated conv + noise + bias + lrelu        -> (512, 4, 4)     F "conv1"
    block i = 0..6 (hidden resolution 2**(i+3)):
      up      x * s_up, inverse Haar wavelet (4C -> C, 2x)
      conv1   modulated depthwise 3x3 + pointwise 1x1 (C -> C_out) + noise + bias + lrelu
      conv2   same, C_out -> C_out                              -> (C_out, 2R, 2R)  F "b{i}"
    to_img    1x1 modulated conv -> 12-channel Haar wavelet of the image at 2x the last
              hidden resolution; inverse Haar -> RGB 1024px

Every modulation is ``x * (scale * s)`` with ``s = A w + b`` the StyleSpace value of
that layer; demodulation is a constant in this model and is folded into the
conv weights. Noise is stored pre-multiplied by its learned strength
("const" noise); "random" noise draws fresh normal noise with the same std.

Early exits: the exported weights only keep the final ``to_img``. Heads named
``b{k}.to_img`` (refitted by distillation, see ``training/distill_mobile_heads.py``)
decode block ``k`` directly, giving images at ``2**(k+4)`` px for a fraction
of the cost. ``exit_mode="downsample"`` instead renders 1024px and averages down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import (
    FeatureLayer,
    StyleGenerator,
    StyleLayer,
    Styles,
    SynthesisOutput,
    module_key,
)
from .layers import MappingMLP, haar_idwt


@dataclass(frozen=True)
class MobileStyleGANConfig:
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    channels: tuple[int, ...] = (512, 512, 512, 512, 512, 256, 128, 64)
    head_blocks: tuple[int, ...] = (4, 5)  # blocks with an early-exit image head

    @property
    def resolution(self) -> int:
        return 4 * 2 ** len(self.channels)


class DepthwiseSeparableConv(nn.Module):
    """Modulated depthwise kxk then pointwise 1x1 conv: ``(N, C, H, W) -> (N, C_out, H, W)``."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3):
        super().__init__()
        self.dw = nn.Parameter(torch.randn(c_in, 1, kernel, kernel))
        self.pw = nn.Parameter(torch.randn(c_out, c_in, 1, 1))
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        # The depthwise conv commutes with the per-channel modulation, so the style can
        # scale a small weight (one per image) instead of the large activation.
        n, c = x.shape[:2]
        mod = s * self.scale  # (N, C)
        pad = self.dw.shape[-1] // 2
        if n == 1 and torch.is_grad_enabled() and s.requires_grad:
            # Backward needs d/ds, not d/d(pw): scaling the 9-tap depthwise weight keeps
            # the pointwise conv's weight gradient out of it (fwd+bwd 256px: 215 -> ~150 ms).
            x = F.conv2d(x, self.dw * mod.view(-1, 1, 1, 1), padding=pad, groups=c)
            return F.conv2d(x, self.pw)
        x = F.conv2d(x, self.dw, padding=pad, groups=c)
        if torch.is_grad_enabled() and s.requires_grad:
            return F.conv2d(x * mod[:, :, None, None], self.pw)
        if n == 1:
            return F.conv2d(x, self.pw * mod.view(1, -1, 1, 1))
        # Batched inference: one matmul per image over the channels-last pixels, about
        # 2x faster than modulating the activation and calling conv2d at 512-1024px.
        h, w = x.shape[-2:]
        weight = self.pw.view(1, -1, c) * mod[:, None, :]  # (N, C_out, C)
        pixels = x.permute(0, 2, 3, 1).reshape(n, h * w, c)
        out = torch.bmm(pixels, weight.transpose(1, 2))  # (N, H*W, C_out)
        return out.view(n, h, w, -1).permute(0, 3, 1, 2)  # channels-last (N, C_out, H, W)


class DenseModConv(nn.Module):
    """Modulated dense kxk conv (demodulation folded): ``(N, C, H, W) -> (N, C_out, H, W)``."""

    def __init__(self, c_in: int, c_out: int, kernel: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.scale = 1.0 / math.sqrt(c_in * kernel * kernel)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        mod = s * self.scale  # (N, C)
        pad = self.weight.shape[-1] // 2
        if len(x) == 1 and self.weight.numel() < x.numel():
            # Scale whichever is smaller, the weight or the activation. ToImage at 128px
            # (a 12x256 weight, 4M activations): two fewer full-size elementwise passes,
            # and d/ds becomes a small weight gradient (fwd+bwd 12.8 -> 8.4 ms).
            return F.conv2d(x, self.weight * mod.view(1, -1, 1, 1), padding=pad)
        return F.conv2d(x * mod[:, :, None, None], self.weight, padding=pad)


class StyledConv(nn.Module):
    """conv -> + noise -> + bias -> leaky ReLU(0.2). Noise buffers are ``(1, 1, R, R)``."""

    def __init__(self, conv: nn.Module, c_out: int, resolution: int):
        super().__init__()
        self.conv = conv
        self.bias = nn.Parameter(torch.zeros(1, c_out, 1, 1))
        self.register_buffer("noise_const", torch.zeros(1, 1, resolution, resolution))
        self.register_buffer("noise_std", torch.zeros(()))

    def forward(self, x: torch.Tensor, s: torch.Tensor, noise_mode: str) -> torch.Tensor:
        x = self.conv(x, s)  # a fresh tensor: the in-place ops below are safe for autograd
        if noise_mode == "const":
            x.add_(self.noise_const)
        elif noise_mode == "random":
            x.add_(torch.randn_like(x[:, :1]) * self.noise_std)
        return F.leaky_relu(x.add_(self.bias), 0.2, inplace=True)


class ToImage(nn.Module):
    """1x1 modulated conv to a 12-channel Haar wavelet, then inverse Haar -> RGB at 2x."""

    def __init__(self, c_in: int):
        super().__init__()
        self.conv = DenseModConv(c_in, 12, 1)
        self.bias = nn.Parameter(torch.zeros(1, 12, 1, 1))

    def wavelet(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.conv(x, s) + self.bias

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return haar_idwt(self.wavelet(x, s))


class MobileBlock(nn.Module):
    memory_format = torch.channels_last  # 2-3x faster depthwise/pointwise convs on CPU

    def __init__(self, c_in: int, c_out: int, resolution: int):
        super().__init__()
        self.conv1 = StyledConv(DepthwiseSeparableConv(c_in // 4, c_out), c_out, resolution)
        self.conv2 = StyledConv(DepthwiseSeparableConv(c_out, c_out), c_out, resolution)

    def forward(self, x, s_up, s1, s2, noise_mode: str) -> torch.Tensor:
        x = haar_idwt(x * s_up[:, :, None, None]).contiguous(memory_format=self.memory_format)
        x = self.conv1(x, s1, noise_mode)
        return self.conv2(x, s2, noise_mode)


class MobileStyleGAN(StyleGenerator):
    """MobileStyleGAN generator. ``num_ws = 3 * len(channels) - 1`` (23 for FFHQ)."""

    def __init__(self, config: MobileStyleGANConfig = MobileStyleGANConfig()):
        super().__init__()
        self.config = cfg = config
        self.z_dim, self.w_dim, self.resolution = cfg.z_dim, cfg.w_dim, cfg.resolution
        self.exit_mode = "early"
        self.mapping = MappingMLP(cfg.z_dim, cfg.w_dim, cfg.mapping_layers)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        ch = cfg.channels
        self.const = nn.Parameter(torch.randn(1, ch[0], 4, 4))
        self.conv1 = StyledConv(DenseModConv(ch[0], ch[0], 3), ch[0], 4)
        self.blocks = nn.ModuleList(
            MobileBlock(ch[i], ch[i + 1], 2 ** (i + 3)) for i in range(len(ch) - 1)
        )
        self.to_img = ToImage(ch[-1])
        self.heads = nn.ModuleDict({str(k): ToImage(ch[k + 1]) for k in cfg.head_blocks})
        self.style_layers, self.feature_layers = self._layer_tables()
        self.affines = nn.ModuleDict(
            {module_key(s.name): nn.Linear(cfg.w_dim, s.channels) for s in self.style_layers}
        )
        for affine in self.affines.values():
            nn.init.ones_(affine.bias)
        self.sizes = tuple(sorted({self.resolution, *(2 ** (k + 4) for k in cfg.head_blocks)}))

    def _layer_tables(self):
        ch, last = self.config.channels, len(self.config.channels) - 1
        styles = [StyleLayer("conv1", ch[0], 0)]
        feats = [FeatureLayer("conv1", ch[0], 4)]
        for i in range(last):
            styles += [
                StyleLayer(f"b{i}.up", ch[i], 1 + 3 * i),
                StyleLayer(f"b{i}.conv1", ch[i] // 4, 2 + 3 * i),
                StyleLayer(f"b{i}.conv2", ch[i + 1], 3 + 3 * i),
            ]
            if i in self.config.head_blocks:
                styles.append(StyleLayer(f"b{i}.to_img", ch[i + 1], 4 + 3 * i))
            feats.append(FeatureLayer(f"b{i}", ch[i + 1], 2 ** (i + 3)))
        styles.append(StyleLayer("to_img", ch[-1], 1 + 3 * last))
        return tuple(styles), tuple(feats)

    def _parameter_prefix(self, layer_name: str) -> str | None:
        if layer_name in ("conv1", "to_img"):
            return layer_name
        block, part = layer_name.split(".")
        if part == "up":  # the style scales the wavelet input: no weights of its own
            return None
        return f"heads.{block[1:]}" if part == "to_img" else f"blocks.{block[1:]}.{part}"

    def _exit_block(self, size: int) -> int | None:
        """Block whose head renders ``size`` px, or None for the full network."""
        if size == self.resolution or self.exit_mode == "downsample":
            return None
        return int(math.log2(size)) - 4

    # On CPU, images are rendered this many at a time when no gradient is needed: one at a
    # time is faster per image at every size (memory traffic), e.g. 1024px x 8: 2.6 s
    # instead of 4.4 s, 256px x 8: 0.68 s instead of 0.85 s. None: one batched pass.
    cpu_inference_batch: int | None = 1

    def _synthesize(self, styles: Styles, *, size, noise_mode, features_in,
                    return_features, image) -> SynthesisOutput:
        n = next(iter(styles.values())).shape[0]
        chunk = self.cpu_inference_batch
        needs_grad = torch.is_grad_enabled() and any(s.requires_grad for s in styles.values())
        if (chunk and n > chunk and image and not features_in and not return_features
                and not needs_grad and self.w_avg.device.type == "cpu"):
            parts = [self._synthesize_batch({k: v[i:i + chunk] for k, v in styles.items()},
                                            size=size, noise_mode=noise_mode, features_in={},
                                            return_features=(), image=True).image
                     for i in range(0, n, chunk)]
            return SynthesisOutput(torch.cat(parts), {})
        return self._synthesize_batch(styles, size=size, noise_mode=noise_mode,
                                      features_in=features_in, return_features=return_features,
                                      image=image)

    def _synthesize_batch(self, styles: Styles, *, size, noise_mode, features_in,
                          return_features, image) -> SynthesisOutput:
        exit_block = self._exit_block(size)
        wanted = set(return_features)
        feats: dict[str, torch.Tensor] = {}
        start = next(iter(features_in), None)
        n = next(iter(styles.values())).shape[0]

        def visit(name: str, x: torch.Tensor) -> torch.Tensor:
            if name == start:
                x = features_in[name]
            if name in wanted:
                feats[name] = x
            return x

        order = ["conv1"] + [f"b{i}" for i in range(len(self.blocks))]
        first = order.index(start) if start else 0
        last_needed = max((order.index(f) for f in wanted), default=-1)
        x = None
        if first == 0:
            x = self.const.expand(n, -1, -1, -1).contiguous(memory_format=MobileBlock.memory_format)
            x = visit("conv1", self.conv1(x, styles["conv1"], noise_mode))
        for i, block in enumerate(self.blocks):
            if not image and i + 1 > last_needed:
                return SynthesisOutput(None, feats)
            if i + 1 < first:
                continue
            if i + 1 > first:
                x = block(x, styles[f"b{i}.up"], styles[f"b{i}.conv1"], styles[f"b{i}.conv2"],
                          noise_mode)
            x = visit(f"b{i}", x)
            if i == exit_block:
                return SynthesisOutput(self.heads[str(i)](x, styles[f"b{i}.to_img"]), feats)
        if not image:
            return SynthesisOutput(None, feats)
        img = self.to_img(x, styles["to_img"])
        if size != self.resolution:
            img = F.adaptive_avg_pool2d(img, size)
        return SynthesisOutput(img, feats)
