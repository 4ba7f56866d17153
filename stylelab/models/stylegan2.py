"""StyleGAN2 (Karras et al. 2020, config F) in pure PyTorch: no compiled CUDA ops.

Synthesis, top to bottom (the "skip" architecture), for the 1024px FFHQ model::

    const (512, 4, 4)
    conv1     3x3 modulated conv + noise + bias + lrelu               -> (512, 4, 4)    F "4"
    to_rgb1   1x1 modulated conv (no demodulation) + bias             -> img (3, 4, 4)
    block r = 8, 16, ..., 1024:
      conv0   3x3 modulated transposed conv (stride 2) + [1,3,3,1] blur,
              noise, bias, lrelu                                      -> (C_r, r, r)
      conv1   3x3 modulated conv + noise + bias + lrelu               -> (C_r, r, r)    F "r"
      to_rgb  1x1 modulated conv + bias, added to the 2x upsampled img -> img (3, r, r)

Channels follow the official tables, ``C_r = min(channel_base // r, channel_max)``:
``channel_base=32768`` is config F (rosinality ``channel_multiplier=2``: 512 channels
up to 64px, then 256/128/64/32), ``16384`` is ``channel_multiplier=1``.

StyleSpace: every modulated conv and to_rgb has an affine ``s = A w + b`` (its own
row of :attr:`StyleGAN2.affines`); the conv then scales its input channels by
``s / sqrt(fan_in)`` and, for the 3x3 convs, demodulates each output channel per
sample. Layer ``i`` of the W+ code feeds conv layer ``i``; a block's to_rgb reads
the index of the *next* conv (as the official code does), so ``num_ws = 2 log2(res) - 2``.

Weights are kept in equalized-learning-rate form (raw weights, gains applied at run
time), exactly as stored in the rosinality and NVIDIA checkpoints, so optimiser
settings for fine-tuning (PTI etc.) transfer unchanged.

The official LSUN-car model is trained on 512x384 images padded to 512x512; this
module renders the square image (crop rows 64:448 for the 512x384 view).
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
from .layers import pixel_norm

SQRT2 = math.sqrt(2.0)
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)


@dataclass(frozen=True)
class StyleGAN2Config:
    """Architecture hyper-parameters (names as in NVIDIA's stylegan2-ada-pytorch)."""

    z_dim: int = 512
    w_dim: int = 512
    resolution: int = 1024
    mapping_layers: int = 8
    channel_base: int = 32768
    channel_max: int = 512
    lr_mlp: float = 0.01  # learning-rate multiplier of the mapping layers
    conv_clamp: float | None = None  # NVIDIA-trained models clamp activations to +-256

    def __post_init__(self) -> None:
        r = self.resolution
        if r < 4 or r & (r - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {r}")

    @classmethod
    def rosinality(
        cls, size: int, channel_multiplier: int = 2, style_dim: int = 512, n_mlp: int = 8,
        lr_mlp: float = 0.01,
    ) -> StyleGAN2Config:
        """The config of rosinality's ``Generator(size, style_dim, n_mlp, channel_multiplier)``
        (exact for ``channel_multiplier`` 1 and 2)."""
        return cls(z_dim=style_dim, w_dim=style_dim, resolution=size, mapping_layers=n_mlp,
                   channel_base=16384 * channel_multiplier, lr_mlp=lr_mlp)

    def channels(self, res: int) -> int:
        """Feature channels at resolution ``res``."""
        return min(self.channel_base // res, self.channel_max)

    @property
    def block_resolutions(self) -> tuple[int, ...]:
        """Resolutions of the upsampling blocks: 8, 16, ..., resolution."""
        return tuple(2**i for i in range(3, int(math.log2(self.resolution)) + 1))


PRESETS: dict[str, StyleGAN2Config] = {
    "ffhq-1024": StyleGAN2Config(),
    "cars-512": StyleGAN2Config(resolution=512),  # square; see module docstring
    "church-256": StyleGAN2Config(resolution=256),
    "cat-256": StyleGAN2Config(resolution=256),
    "afhq-512": StyleGAN2Config(resolution=512),
    "tiny-32": StyleGAN2Config(z_dim=32, w_dim=32, resolution=32, mapping_layers=2,
                               channel_base=512, channel_max=32),
}


def layer_tables(cfg: StyleGAN2Config) -> tuple[tuple[StyleLayer, ...], tuple[FeatureLayer, ...]]:
    """StyleSpace and feature-space tables of ``cfg`` (no weights are built)."""
    c4 = cfg.channels(4)
    styles = [StyleLayer("conv1", c4, 0), StyleLayer("to_rgb1", c4, 1)]
    feats = [FeatureLayer("4", c4, 4)]
    for k, r in enumerate(cfg.block_resolutions):
        c_in, c_out = cfg.channels(r // 2), cfg.channels(r)
        styles += [
            StyleLayer(f"{r}.conv0", c_in, 2 * k + 1),
            StyleLayer(f"{r}.conv1", c_out, 2 * k + 2),
            StyleLayer(f"{r}.to_rgb", c_out, 2 * k + 3),
        ]
        feats.append(FeatureLayer(str(r), c_out, r))
    return tuple(styles), tuple(feats)


# ---------------------------------------------------------------------- FIR ops
def fir_kernel(taps: tuple[float, ...] = BLUR_TAPS) -> torch.Tensor:
    """Separable low-pass filter ``(k, k)``, normalised to sum 1."""
    t = torch.tensor(taps, dtype=torch.float32)
    k = torch.outer(t, t)
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, *, up: int = 1,
              pad: tuple[int, int] = (0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR-filter each channel; pure PyTorch.

    ``x: (N, C, H, W)``, ``kernel: (k, k)`` -> ``(N, C, H*up + p0 + p1 - k + 1, ...)``:
    ``up - 1`` zeros follow every pixel, both axes get ``p0`` zeros before and ``p1``
    after, then each channel is convolved with ``kernel * gain``.
    """
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    weight = (kernel * gain).flip(0, 1).to(x.dtype).repeat(c, 1, 1, 1)  # (C, 1, k, k)
    return F.conv2d(x, weight, groups=c)


def upsample2d(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2x FIR upsampling of the skip image: ``(N, C, H, W) -> (N, C, 2H, 2W)``."""
    return upfirdn2d(img, kernel, up=2, pad=(2, 1), gain=4.0)


# ------------------------------------------------------------------- modules
class EqualLinear(nn.Module):
    """Equalized-lr linear layer ``(N, in) -> (N, out)``.

    Stores the raw ``weight`` (initialised ``randn / lr_mul``) and ``bias``; computes
    ``x @ (weight * lr_mul / sqrt(in)).T + bias * lr_mul``, then optionally leaky
    ReLU(0.2) x sqrt 2 (StyleGAN2's fused lrelu).
    """

    def __init__(self, in_dim: int, out_dim: int, *, lr_mul: float = 1.0,
                 bias_init: float = 0.0, activation: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.lr_mul = lr_mul
        self.weight_gain = lr_mul / math.sqrt(in_dim)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * SQRT2 if self.activation else x


class MappingNetwork(nn.Module):
    """``z: (N, z_dim)`` -> pixel norm -> ``num_layers`` x EqualLinear + lrelu -> ``(N, w_dim)``."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int, lr_mul: float):
        super().__init__()
        dims = [z_dim] + [w_dim] * num_layers
        self.layers = nn.ModuleList(
            EqualLinear(a, b, lr_mul=lr_mul, activation=True) for a, b in zip(dims[:-1], dims[1:])
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(z)
        for layer in self.layers:
            x = layer(x)
        return x


class ModulatedConv(nn.Module):
    """3x3 modulated + demodulated conv (optionally 2x upsampling), noise, bias, lrelu.

    ``x: (N, C_in, H, W)``, ``s: (N, C_in)`` -> ``(N, C_out, R, R)`` with ``R = resolution``
    (``2H`` when ``up``). Two equivalent executions: per-sample demodulation
    coefficients around one shared conv (default), or ``fused``: a grouped conv with
    per-sample weights. Noise: ``noise_strength * noise_const`` ("const"), fresh
    ``randn`` ("random") or none.
    """

    def __init__(self, c_in: int, c_out: int, resolution: int, *, up: bool = False,
                 conv_clamp: float | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 3, 3))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("fir", fir_kernel(), persistent=False)
        self.scale = 1.0 / math.sqrt(c_in * 9)
        self.up, self.conv_clamp, self.fused = up, conv_clamp, False

    def forward(self, x: torch.Tensor, s: torch.Tensor, noise_mode: str) -> torch.Tensor:
        x = self._fused(x, s) if self.fused else self._per_sample(x, s)
        if noise_mode == "const":
            x = x + self.noise_strength * self.noise_const
        elif noise_mode == "random":
            n, _, h, w = x.shape
            x = x + self.noise_strength * torch.randn(n, 1, h, w, device=x.device, dtype=x.dtype)
        x = F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp else x

    def _per_sample(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Scale activations by the style, shared conv, scale outputs by the demod coefficients."""
        mod = s * self.scale  # (N, C_in)
        energy = self.weight.square().sum((2, 3)).t()  # (C_in, C_out)
        dcoef = torch.rsqrt(mod.square() @ energy + 1e-8)  # (N, C_out)
        x = self._conv(x * mod[:, :, None, None], self.weight, groups=1)
        return x * dcoef[:, :, None, None]

    def _fused(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Per-sample modulated, demodulated weights ``(N, C_out, C_in, 3, 3)``, grouped conv."""
        n, c, h, w = x.shape
        weight = self.weight[None] * (s * self.scale)[:, None, :, None, None]
        weight = weight * torch.rsqrt(weight.square().sum((2, 3, 4)) + 1e-8)[:, :, None, None, None]
        x = self._conv(x.reshape(1, n * c, h, w), weight.reshape(-1, c, 3, 3), groups=n)
        return x.reshape(n, -1, *x.shape[2:])

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
        """``weight: (groups * C_out, C_in, 3, 3)``; up = stride-2 transposed conv + blur."""
        if not self.up:
            return F.conv2d(x, weight, padding=1, groups=groups)
        o, i = weight.shape[:2]
        weight = weight.reshape(groups, o // groups, i, 3, 3).transpose(1, 2)
        x = F.conv_transpose2d(x, weight.reshape(groups * i, o // groups, 3, 3), stride=2,
                               groups=groups)  # (.., 2H + 1, 2W + 1)
        return upfirdn2d(x, self.fir, pad=(1, 1), gain=4.0)  # -> (.., 2H, 2W)


class ToRGB(nn.Module):
    """1x1 modulated conv without demodulation, plus bias.

    ``x: (N, C, H, W)``, ``s: (N, C)`` -> ``(N, 3, H, W)``.
    """

    def __init__(self, c_in: int, conv_clamp: float | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, c_in, 1, 1))
        self.bias = nn.Parameter(torch.zeros(3))
        self.scale = 1.0 / math.sqrt(c_in)
        self.conv_clamp = conv_clamp

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x * (s * self.scale)[:, :, None, None], self.weight)
        x = x + self.bias.view(1, -1, 1, 1)
        return x.clamp(-self.conv_clamp, self.conv_clamp) if self.conv_clamp else x


class SynthesisBlock(nn.Module):
    """Resolution ``r``: features ``(N, C_in, r/2, r/2) -> (N, C_out, r, r)``; its to_rgb
    output is added to the 2x upsampled skip image ``(N, 3, r/2, r/2) -> (N, 3, r, r)``."""

    def __init__(self, c_in: int, c_out: int, resolution: int, conv_clamp: float | None):
        super().__init__()
        self.resolution = resolution
        self.conv0 = ModulatedConv(c_in, c_out, resolution, up=True, conv_clamp=conv_clamp)
        self.conv1 = ModulatedConv(c_out, c_out, resolution, conv_clamp=conv_clamp)
        self.to_rgb = ToRGB(c_out, conv_clamp)
        self.register_buffer("fir", fir_kernel(), persistent=False)

    def features(self, x: torch.Tensor, styles: Styles, noise_mode: str) -> torch.Tensor:
        r = self.resolution
        x = self.conv0(x, styles[f"{r}.conv0"], noise_mode)
        return self.conv1(x, styles[f"{r}.conv1"], noise_mode)

    def rgb(self, x: torch.Tensor, img: torch.Tensor, styles: Styles) -> torch.Tensor:
        return upsample2d(img, self.fir) + self.to_rgb(x, styles[f"{self.resolution}.to_rgb"])


# ----------------------------------------------------------------- generator
class StyleGAN2(StyleGenerator):
    """StyleGAN2 generator on the :class:`StyleGenerator` contract.

    F layers are ``"4"`` and ``"8" ... str(resolution)``: each block's output after its
    conv1, before its to_rgb. ``features_in`` replaces one of them; the skip image up
    to that block is still computed from the styles, and that block's to_rgb is
    applied to the replaced map. ``sizes``: the native resolution plus the smaller
    powers of two >= 64, which are exact area (box) downsamples of the full image.
    """

    def __init__(self, config: StyleGAN2Config = StyleGAN2Config()):
        super().__init__()
        self.config = cfg = config
        self.z_dim, self.w_dim, self.resolution = cfg.z_dim, cfg.w_dim, cfg.resolution
        self.mapping = MappingNetwork(cfg.z_dim, cfg.w_dim, cfg.mapping_layers, cfg.lr_mlp)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        c4, clamp = cfg.channels(4), cfg.conv_clamp
        self.const = nn.Parameter(torch.randn(1, c4, 4, 4))
        self.conv1 = ModulatedConv(c4, c4, 4, conv_clamp=clamp)
        self.to_rgb1 = ToRGB(c4, clamp)
        self.blocks = nn.ModuleList(
            SynthesisBlock(cfg.channels(r // 2), cfg.channels(r), r, clamp)
            for r in cfg.block_resolutions
        )
        self.style_layers, self.feature_layers = layer_tables(cfg)
        self.affines = nn.ModuleDict({
            module_key(s.name): EqualLinear(cfg.w_dim, s.channels, bias_init=1.0)
            for s in self.style_layers
        })
        smaller = (2**i for i in range(6, int(math.log2(cfg.resolution))))
        self.sizes = tuple(sorted({cfg.resolution, *smaller}))

    @property
    def fused_modconv(self) -> bool:
        """Run the 3x3 convs as grouped convs with per-sample weights (same result)."""
        return self.conv1.fused

    @fused_modconv.setter
    def fused_modconv(self, fused: bool) -> None:
        for module in self.modules():
            if isinstance(module, ModulatedConv):
                module.fused = bool(fused)

    def _parameter_prefix(self, layer_name: str) -> str | None:
        if layer_name in ("conv1", "to_rgb1"):
            return layer_name
        res, part = layer_name.split(".")
        return f"blocks.{int(math.log2(int(res))) - 3}.{part}"

    def _synthesize(self, styles: Styles, *, size, noise_mode, features_in,
                    return_features, image) -> SynthesisOutput:
        order = [f.name for f in self.feature_layers]
        stop = None if image else max((order.index(f) for f in return_features), default=-1)
        feats: dict[str, torch.Tensor] = {}
        if stop == -1:
            return SynthesisOutput(None, feats)
        x = img = None
        for i, name in enumerate(order):
            replacement = features_in.get(name)
            if replacement is not None:
                x = self._checked_feature(i, replacement, styles["conv1"].shape[0])
            else:
                x = self._features_at(i, x, styles, noise_mode)
            if name in return_features:
                feats[name] = x
            if i == stop:
                return SynthesisOutput(None, feats)
            if image:
                img = self._rgb_at(i, x, img, styles)
        if size != self.resolution:
            img = F.adaptive_avg_pool2d(img, size)  # exact box filter for powers of two
        return SynthesisOutput(img, feats)

    def _features_at(self, i: int, x: torch.Tensor | None, styles: Styles,
                     noise_mode: str) -> torch.Tensor:
        """Feature map of F layer ``i`` from the previous one (``x``, None for i = 0)."""
        if i == 0:
            n = styles["conv1"].shape[0]
            return self.conv1(self.const.expand(n, -1, -1, -1), styles["conv1"], noise_mode)
        return self.blocks[i - 1].features(x, styles, noise_mode)

    def _rgb_at(self, i: int, x: torch.Tensor, img: torch.Tensor | None,
                styles: Styles) -> torch.Tensor:
        """Skip image ``(N, 3, r, r)`` after F layer ``i`` (``img`` is the previous one)."""
        if i == 0:
            return self.to_rgb1(x, styles["to_rgb1"])
        return self.blocks[i - 1].rgb(x, img, styles)

    def _checked_feature(self, i: int, f: torch.Tensor, n: int) -> torch.Tensor:
        layer = self.feature_layers[i]
        want = (n, layer.channels, layer.resolution, layer.resolution)
        if tuple(f.shape) != want:
            raise ValueError(f"feature {layer.name!r} must be {want}, got {tuple(f.shape)}")
        return f.to(self.device, torch.float32)
