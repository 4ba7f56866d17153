"""Encoders from images to a generator's latent spaces: pSp, e4e and CLCAE styles.

``Encoder(config, G)(images) -> EncoderOutput(w, wplus, f)`` for images ``(N, 3, S, S)`` in
[-1, 1] (resized to ``config.input_size`` when S differs). Every kind reads a
:class:`~.pyramid.FeaturePyramid` (T1 coarsest .. T3 finest) and predicts *offsets* from
``G.w_avg`` (the pSp / e4e convention: an untrained encoder starts at the average face).
Per-layer codes come from map2style blocks in pSp's coarse / medium / fine groups
(:func:`~.map2style.layer_groups`, from T1 / T2 / T3).

* ``"psp"`` (Richardson et al. 2021): W+ = w_avg + codes; ``w`` is their mean.
* ``"e4e"`` (Tov et al. 2021): one ``w`` from T1 plus per-layer deltas
  (``w+_i = w + delta_i``, ``delta_0 = 0``); ``out.deltas`` is what e4e's delta regulariser
  penalises (progressive training of the deltas is a training-loop concern).
* ``"clcae"`` (Liu et al. 2023): ``w`` from T1; W+ from the W+ cross-attention of ``w`` over
  the per-layer codes; with ``use_f``, a feature tensor ``f`` for one generator F layer from
  the F cross-attention of T3 with ``w`` (``attention="paper"``: one key token, as the paper
  and its code; ``"tokens"``: all W+ tokens, see :mod:`.attention`).

``f_residual`` (default True, a stylelab choice): ``f = G_k(w+) + CNN[...]`` with the CNN's
last layer starting at zero, so an untrained F branch reproduces the W+ reconstruction exactly
and training only has to learn the detail W+ misses; the paper's ``f = CNN[...]`` is
``f_residual=False``. The F regulariser ``||f - G_k(w+)||^2`` is the same either way. The
residual form runs the generator up to layer k inside :meth:`Encoder.forward`, so such an
encoder needs its generator (``Encoder(config, G)`` or :meth:`Encoder.attach`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

import torch
from torch import nn

from ..models.base import StyleGenerator
from ..perceptual.backbones import Backbone, resize_images
from .attention import MODES, FCrossAttention, WPlusCrossAttention
from .map2style import Map2Style, layer_groups
from .pyramid import FeaturePyramid

KINDS = ("psp", "e4e", "clcae")


@dataclass(frozen=True)
class EncoderConfig:
    """What an encoder is made of. ``generator``, ``w_dim``, ``num_ws`` and ``resolution`` come
    from the generator (:meth:`for_generator`); ``f_layer`` None: the generator F layer with the
    largest resolution not above T3's (filled in, with its channels and resolution, when the
    encoder is built)."""

    generator: str
    w_dim: int
    num_ws: int
    resolution: int
    kind: str = "clcae"
    backbone: str = "efficientnet-lite0"
    # finest to coarsest; None: s4, s8, s16 for EfficientNet backbones, else the last three
    pyramid_layers: tuple[str, ...] | None = None
    input_size: int = 256
    channels: int = 128  # pyramid width
    style_hidden: int = 128  # map2style convolution width
    attention: str = "paper"  # "paper" (one key token) | "tokens" (all W+ tokens)
    heads: int = 4
    use_f: bool = False
    f_layer: str | None = None
    f_channels: int = 0
    f_resolution: int = 0
    f_hidden: int = 128
    f_residual: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.attention not in MODES:
            raise ValueError(f"attention must be one of {MODES}, got {self.attention!r}")
        if self.use_f and self.kind != "clcae":
            raise ValueError("only CLCAE encoders predict F features (use_f)")
        if self.pyramid_layers is None and self.backbone.startswith("efficientnet-"):
            # pSp's 64 / 32 / 16 px levels at 256 px; smaller than s8, s16, s32 (whose
            # 1280-channel head alone has 0.4 M weights) and as fast
            object.__setattr__(self, "pyramid_layers", ("s4", "s8", "s16"))
        elif self.pyramid_layers is not None:
            object.__setattr__(self, "pyramid_layers", tuple(self.pyramid_layers))

    @classmethod
    def for_generator(cls, G: StyleGenerator, kind: str = "clcae", **overrides) -> EncoderConfig:
        """The config for ``G``; CLCAE uses F unless ``use_f=False`` is given."""
        overrides.setdefault("use_f", kind == "clcae")
        return cls(generator=G.model_name, w_dim=G.w_dim, num_ws=G.num_ws,
                   resolution=G.resolution, kind=kind, **overrides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> EncoderConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown encoder config fields {unknown}")
        return cls(**data)


@dataclass
class EncoderOutput:
    """``w``: (N, w_dim); ``wplus``: (N, num_ws, w_dim); ``f``: ``{layer: (N, C, H, W)}`` for
    CLCAE with F, else None; ``f_base``: ``{layer: G_k(wplus)}`` when the forward computed it."""

    w: torch.Tensor
    wplus: torch.Tensor
    f: dict[str, torch.Tensor] | None = None
    f_base: dict[str, torch.Tensor] | None = None

    @property
    def deltas(self) -> torch.Tensor:
        """``wplus - w`` per layer (N, num_ws, w_dim): e4e's deltas."""
        return self.wplus - self.w[:, None]

    def detach(self) -> EncoderOutput:
        def d(x: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
            return None if x is None else {k: v.detach() for k, v in x.items()}

        return EncoderOutput(self.w.detach(), self.wplus.detach(), d(self.f), d(self.f_base))


class Encoder(nn.Module):
    """See the module docstring. ``G``: the generator (its ``w_avg`` is copied; needed at
    forward time only by CLCAE with residual F). ``backbone``: a loaded backbone to use
    instead of loading ``config.backbone``."""

    def __init__(self, config: EncoderConfig, G: StyleGenerator | None = None,
                 backbone: Backbone | None = None):
        super().__init__()
        self.__dict__["_generator"] = None
        if backbone is not None and backbone.name != config.backbone:
            raise ValueError(f"the config names backbone {config.backbone!r}, the one given is "
                             f"{backbone.name!r}")
        self.pyramid = FeaturePyramid(backbone or config.backbone, config.pyramid_layers,
                                      config.channels)
        shapes = self.pyramid.shapes(config.input_size)
        if config.use_f and not (config.f_layer and config.f_channels and config.f_resolution):
            if G is None:
                raise ValueError("an encoder with F needs G (or f_layer, f_channels and "
                                 "f_resolution in its config)")
            config = _resolve_f_layer(config, G)
        self.config = config
        d, n = config.w_dim, config.num_ws
        w_avg = G.w_avg.detach().float().cpu().reshape(d) if G is not None else torch.zeros(d)
        self.register_buffer("w_avg", w_avg.clone())
        groups = layer_groups(n)
        self.styles = nn.ModuleList(
            Map2Style(shapes[t][0], shapes[t][1], d, config.style_hidden, count)
            for t, count in zip(("t1", "t2", "t3"), groups) if count)
        self._levels = tuple(t for t, count in zip(("t1", "t2", "t3"), groups) if count)
        if config.kind in ("e4e", "clcae"):
            self.w_head = Map2Style(shapes["t1"][0], shapes["t1"][1], d, config.style_hidden)
        degenerate = config.attention == "paper"
        if config.kind == "clcae":
            self.wplus_attention = WPlusCrossAttention(d, config.heads, degenerate, n)
        if config.use_f:
            self.f_attention = FCrossAttention(
                config.channels, d, config.f_channels, config.f_resolution, config.heads,
                degenerate, n, hidden=config.f_hidden, zero_out=config.f_residual)
        if G is not None:
            self.attach(G)

    # ----------------------------------------------------------------- generator
    @property
    def generator(self) -> StyleGenerator | None:
        """The attached generator (not a submodule: never saved, not moved by ``.to``)."""
        return self.__dict__["_generator"]

    def attach(self, G: StyleGenerator) -> Encoder:
        """Use ``G`` (same w_dim / num_ws, and the F layer when there is one)."""
        c = self.config
        if (G.w_dim, G.num_ws) != (c.w_dim, c.num_ws):
            raise ValueError(f"this encoder predicts {c.num_ws} x {c.w_dim} W+ codes; the "
                             f"generator has {G.num_ws} x {G.w_dim}")
        if c.use_f:
            layer = G.feature_layer(c.f_layer)
            if (layer.channels, layer.resolution) != (c.f_channels, c.f_resolution):
                raise ValueError(f"F layer {c.f_layer!r} of the generator is {layer.channels} x "
                                 f"{layer.resolution}px, the encoder's {c.f_channels} x "
                                 f"{c.f_resolution}px")
        self.__dict__["_generator"] = G
        return self

    # ------------------------------------------------------------------- forward
    def forward(self, images: torch.Tensor) -> EncoderOutput:
        """``images (N, 3, S, S)`` in [-1, 1] -> :class:`EncoderOutput` (differentiable)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        images = resize_images(images, self.config.input_size)
        p = self.pyramid(images)
        levels = {"t1": p.t1, "t2": p.t2, "t3": p.t3}
        codes = torch.cat([blk(levels[t]) for blk, t in zip(self.styles, self._levels)], 1)
        kind = self.config.kind
        if kind == "psp":
            wplus_off = codes
            w_off = codes.mean(1)
        else:
            w_off = self.w_head(p.t1)[:, 0]
            if kind == "e4e":
                deltas = torch.cat([torch.zeros_like(codes[:, :1]), codes[:, 1:]], 1)
                wplus_off = w_off[:, None] + deltas
            else:
                wplus_off = self.wplus_attention(w_off, codes)
        w, wplus = self.w_avg + w_off, self.w_avg + wplus_off
        if not self.config.use_f:
            return EncoderOutput(w, wplus)
        name = self.config.f_layer
        assert name is not None
        f = self.f_attention(p.t3, w_off, wplus_off)
        if not self.config.f_residual:
            return EncoderOutput(w, wplus, {name: f})
        G = self.generator
        if G is None:
            raise RuntimeError("this encoder's F is relative to G_k(w+): attach its generator "
                               "first (encoder.attach(G))")
        base = G.features(wplus, layers=[name])[name]
        return EncoderOutput(w, wplus, {name: base + f}, {name: base})

    @torch.no_grad()
    def invert(self, images: torch.Tensor) -> EncoderOutput:
        """:meth:`forward` in eval mode without gradients (the encoder's mode is restored)."""
        was_training = self.training
        self.eval()
        try:
            return self(images).detach()
        finally:
            self.train(was_training)

    # -------------------------------------------------------------------- export
    def export_state(self) -> dict[str, torch.Tensor]:
        """The state dict without the backbone parts a forward never uses."""
        used = {f"pyramid.backbone.{k}" for k in self.pyramid.used_backbone_keys()}
        return {k: v for k, v in self.state_dict().items()
                if not k.startswith("pyramid.backbone.") or k in used}

    def load_export_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load :meth:`export_state` output; ValueError naming missing / unexpected / wrong-shape
        keys."""
        expected = self.export_state()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(k for k in expected if k in state and state[k].shape != expected[k].shape)
        if missing or unexpected or wrong:
            raise ValueError(f"the weights do not fit this encoder: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}, wrong shape {wrong[:5]}")
        own = self.state_dict()
        self.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in state.items()}})


def _resolve_f_layer(config: EncoderConfig, G: StyleGenerator) -> EncoderConfig:
    """``f_layer`` given: its channels and resolution; else the F layer with the largest
    resolution at most ``input_size / 8``: for 256 px faces MobileStyleGAN's ``b2`` (32 px),
    which follows the first 10 W+ entries, as the paper's 64 px layer of StyleGAN2-1024
    does; a finer layer keeps more detail and leaves less to edit)."""
    if config.f_layer:
        layer = G.feature_layer(config.f_layer)
    else:
        limit = config.input_size // 8
        fitting = [lay for lay in G.feature_layers if lay.resolution <= limit]
        if not fitting:
            raise ValueError(f"no F layer of the generator is at most {limit}px")
        layer = max(fitting, key=lambda lay: lay.resolution)
    return replace(config, f_layer=layer.name, f_channels=layer.channels,
                   f_resolution=layer.resolution)


def render(G: StyleGenerator, out: EncoderOutput, size: int | None = None,
           use_f: bool = True) -> torch.Tensor:
    """Images ``(N, 3, size, size)`` in [-1, 1] of W+ (and F, when ``out`` has it and
    ``use_f``): ``G.synthesis(out.wplus, size=size, features_in=out.f)``."""
    features = out.f if use_f and out.f else None
    return G.synthesis(out.wplus, size=size, features_in=features)


def shift_features(G: StyleGenerator, features: Mapping[str, torch.Tensor],
                   original: torch.Tensor | Mapping[str, torch.Tensor],
                   edited: torch.Tensor | Mapping[str, torch.Tensor],
                   base: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """CLCAE's F edit for one layer: ``f + G_k(edited) - G_k(original)``. ``original`` and
    ``edited``: W ``(N, w_dim)``, W+ or S (a styles dict); ``base``: ``G_k(original)`` when
    already known. Equal latents give ``features`` back exactly."""
    if len(features) != 1:
        raise ValueError("F features must name exactly one generator layer")
    name, f = next(iter(features.items()))

    def feats(x):
        return G.features(x if isinstance(x, Mapping) else G.to_wplus(x.to(G.device)),
                          layers=[name])[name]

    before = feats(original) if base is None else base
    return {name: f.to(before.device) + (feats(edited) - before)}


def edit_features(G: StyleGenerator, out: EncoderOutput,
                  wplus_edited: torch.Tensor) -> dict[str, torch.Tensor]:
    """CLCAE's F edit ``f_hat = f + (G_k(w+_edited) - G_k(w+))`` for the layer of ``out.f``;
    ``wplus_edited`` (N, num_ws, w_dim) or (N, w_dim). With ``wplus_edited == out.wplus`` the
    difference is exactly zero and ``f`` comes back unchanged."""
    if not out.f:
        raise ValueError("this inversion has no F features (not a CLCAE encoder with F)")
    name = next(iter(out.f))
    return shift_features(G, out.f, out.wplus, wplus_edited, (out.f_base or {}).get(name))
