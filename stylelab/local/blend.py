"""Local editing in feature space (StyleMapGAN's masked blending, done in any StyleGAN's F).

At a feature layer ``k`` the maps of two latents are blended inside a mask,
``f = m * G_k(other) + (1 - m) * G_k(base)``, and synthesis resumes from ``f``
(``features_in``); the layers after ``k`` take their styles from ``later`` ("base" keeps the
current face's fine styles: a transplant takes the reference's shapes in the current face's
colours; "other" also takes the other latent's fine styles: an edit applied inside the mask).
With ``keep_outside`` the output is composited over the unedited image with the mask at full
resolution, so everything outside it stays pixel-identical (for inverted photos: the original
reconstruction).

* :func:`transplant`: a region of a reference face (seed or inversion) into the current face;
* :func:`masked_edit`: any edit (direction slider, text edit, StyleFlow: its edited latent)
  only inside the mask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from ..models.base import StyleGenerator
from .masks import check_mask, resize_mask

LATER = ("base", "other")


@dataclass(frozen=True)
class LocalConfig:
    """``layer``: the F layer to blend at (None: the one nearest half the output size, 128 px
    at 256: the closest transplants at low leakage in ``benchmarks/local_edit.py``); ``feather``: mask blur at that layer (fraction of its side); ``later``:
    see the module doc; ``keep_outside``/``pixel_feather``: the final composite."""

    layer: str | None = None
    feather: float = 0.05
    later: str = "base"
    keep_outside: bool = True
    pixel_feather: float = 0.01

    def __post_init__(self) -> None:
        if self.later not in LATER:
            raise ValueError(f"later must be one of {LATER}, got {self.later!r}")
        if not 0 <= self.feather <= 0.5 or not 0 <= self.pixel_feather <= 0.5:
            raise ValueError("feathers are fractions of the side in 0..0.5")


@dataclass
class LocalResult:
    """``before``/``after``: ``(N, 3, S, S)`` in [-1, 1]; ``mask``: ``(S, S)`` as applied to
    the pixels; ``layer``: where the maps were blended."""

    before: torch.Tensor
    after: torch.Tensor
    mask: torch.Tensor
    layer: str


def pick_layer(G: StyleGenerator, size: int, layer: str | None = None) -> str:
    """``layer`` checked (ValueError lists the model's layers), or the default."""
    names = [lay.name for lay in G.feature_layers]
    if layer is not None:
        if layer not in names:
            raise ValueError(f"this model has no feature layer {layer!r}; choose one of "
                             f"{', '.join(names)}")
        return layer
    return min(G.feature_layers, key=lambda lay: abs(lay.resolution - size / 2)).name


def _wplus(G: StyleGenerator, w: torch.Tensor) -> torch.Tensor:
    if w.ndim not in (2, 3) or w.shape[-1] != G.w_dim:
        raise ValueError(f"latents must be W (N, {G.w_dim}) or W+ (N, {G.num_ws}, {G.w_dim}), "
                         f"got {tuple(w.shape)}")
    return G.to_wplus(w.to(G.device))


def _other(G: StyleGenerator, other: torch.Tensor | Mapping[str, torch.Tensor], n: int
           ) -> torch.Tensor | dict[str, torch.Tensor]:
    """``other`` as W+ or as checked S codes, with ``n`` faces (one face is repeated)."""
    if isinstance(other, Mapping):
        G.check_styles(other)
        count = len(next(iter(other.values())))
        values = {k: v.to(G.device) for k, v in other.items()}
    else:
        values = _wplus(G, other)
        count = values.shape[0]
    if count not in (1, n):
        raise ValueError("the other latent must be one face or one per base face")
    if isinstance(values, dict):
        return {k: v.expand(n, -1) for k, v in values.items()}
    return values.expand(n, -1, -1)


@torch.no_grad()
def blend(G: StyleGenerator, base: torch.Tensor,
          other: torch.Tensor | Mapping[str, torch.Tensor], mask: torch.Tensor,
          config: LocalConfig = LocalConfig(), size: int | None = None,
          before: torch.Tensor | None = None) -> LocalResult:
    """Blend ``other`` into ``base`` inside ``mask`` (module doc). ``base``: W or W+ latents
    of ``G``; ``other``: W, W+ or S codes (a StyleSpace edit), batch 1 or the same as
    base's; ``mask``: ``(H, W)`` in [0, 1], 1 = take ``other``; ``before``: the unedited
    image ``(N, 3, size, size)`` kept outside the mask (default: ``base`` rendered from
    its W+ code; pass e.g. a CLCAE inversion rendered through its F features)."""
    size = G.check_size(size or G.resolution)
    layer = pick_layer(G, size, config.layer)
    res = G.feature_layer(layer).resolution
    base_p = _wplus(G, base)
    other_p = _other(G, other, base_p.shape[0])
    mask = check_mask(mask)
    m = resize_mask(mask, res, config.feather).to(base_p)[None, None]
    f_base = G.features(base_p, layers=[layer])[layer]
    f_other = (G.features(styles=other_p, layers=[layer]) if isinstance(other_p, dict)
               else G.features(other_p, layers=[layer]))[layer]
    blended = {layer: m * f_other + (1 - m) * f_base}
    later = base_p if config.later == "base" else other_p
    after = G.synthesis(later, size=size, features_in=blended)
    before = G.synthesis(base_p, size=size) if before is None else before.to(after)
    pixel = resize_mask(mask, size, config.pixel_feather).to(after)
    if config.keep_outside:
        after = pixel * after + (1 - pixel) * before
    return LocalResult(before.cpu(), after.cpu(), pixel.cpu(), layer)


def transplant(G: StyleGenerator, w: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor,
               config: LocalConfig = LocalConfig(), size: int | None = None) -> LocalResult:
    """The reference face's region (``mask``) in the current face ``w``."""
    return blend(G, w, reference, mask, config, size)


def masked_edit(G: StyleGenerator, w: torch.Tensor,
                edited: torch.Tensor | Mapping[str, torch.Tensor], mask: torch.Tensor,
                config: LocalConfig = LocalConfig(later="other"), size: int | None = None,
                before: torch.Tensor | None = None) -> LocalResult:
    """An edit (``edited``: the edited W / W+ latent of ``w``, or its edited S codes)
    applied only inside ``mask``; ``before``: as in :func:`blend`."""
    return blend(G, w, edited, mask, config, size, before)


@torch.no_grad()
def stylespace_transplant(G: StyleGenerator, w: torch.Tensor, reference: torch.Tensor,
                          channels: list[int], mask: torch.Tensor | None = None,
                          size: int | None = None, pixel_feather: float = 0.01
                          ) -> LocalResult:
    """StyleSpace-only alternative: the reference's values of ``channels`` (flat S indices,
    e.g. a region's top channels from :class:`~stylelab.directions.stylespace.Localisation`)
    in the current face; with ``mask``, the outside composited back as in :func:`blend`."""
    from ..models.stylespace import flatten_styles, unflatten_styles

    size = G.check_size(size or G.resolution)
    base_p, ref_p = _wplus(G, w), _wplus(G, reference)
    s = flatten_styles(G, G.w_to_s(base_p))
    s_ref = flatten_styles(G, G.w_to_s(ref_p)).expand_as(s)
    index = torch.as_tensor(channels, dtype=torch.long, device=s.device)
    s[:, index] = s_ref[:, index]
    before = G.synthesis(base_p, size=size)
    after = G.synthesis(unflatten_styles(G, s), size=size)
    pixel = torch.ones(size, size) if mask is None else resize_mask(mask, size, pixel_feather)
    if mask is not None:
        pixel = pixel.to(after)
        after = pixel * after + (1 - pixel) * before
    return LocalResult(before.cpu(), after.cpu(), pixel.cpu(), "S")
