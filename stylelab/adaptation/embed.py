"""Image embeddings for the adaptation losses: a global vector and a set of spatial tokens.

DiFa and StyleGAN-NADA use CLIP's image tower (ViT-B/32 + ViT-B/16 in the papers). No CLIP
is reachable offline, so the embedding is an argument:

* ``"vgg16"`` (default offline), ``"efficientnet-lite0/1/2"``: an ImageNet backbone from
  :mod:`stylelab.perceptual`, seeing the images at 160 px. The global vector is, by default
  (``pooling="stats"``), the channel means and standard deviations of every map (Gatys /
  AdaIN style statistics), each layer unit-normalised, then concatenated; ``"multiscale"``
  keeps the means only, ``"deepest"`` only the pooled deepest map (a classifier's deepest
  map is nearly blind to colour and texture, which is what a style is). The tokens are the
  positions of a middle map (relu3_3 for VGG16, stride 8 for EfficientNet), as DiFa takes
  the tokens of a middle ViT layer. Measured on the sepia domain (60 DiFa steps, error of
  the per-channel colour mean/std against the right answer; parent 0.090): EfficientNet
  deepest 0.106 (moved away), multiscale 0.106, stats 0.088; VGG16 stats 0.072;
* ``"clip:<name>"``: any :mod:`stylelab.clip` model (open_clip / transformers CLIP online,
  ``stylelab/faces-minilm`` offline); the global vector is its image embedding and the
  tokens come from EfficientNet-Lite0 (the :class:`~stylelab.clip.TextImageModel` contract
  exposes no spatial tokens).

Both outputs are differentiable with respect to the images.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..perceptual import Backbone, load_backbone

TOKEN_LAYERS = {"efficientnet-lite0": "s8", "efficientnet-lite1": "s8",
                "efficientnet-lite2": "s8", "vgg16": "relu3_3", "tiny-backbone": "c2"}
DEFAULT_EMBED = "vgg16"
TOKEN_SIZE = 160
POOLINGS = ("stats", "multiscale", "deepest")


class ImageEmbedder(nn.Module):
    """``embed(x) -> (N, D)`` unit vectors and ``tokens(x) -> (N, T, C)`` unit tokens of
    images ``x: (N, 3, H, W)`` in [-1, 1]. ``name`` says which networks they come from."""

    def __init__(self, name: str, backbone: Backbone, token_layer: str,
                 clip: nn.Module | None = None, token_size: int = TOKEN_SIZE,
                 pooling: str = "stats"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.name, self.backbone, self.token_layer = name, backbone, token_layer
        self.clip, self.token_size, self.pooling = clip, token_size, pooling
        if token_layer not in backbone.layers:
            raise ValueError(f"{backbone.name} has no layer {token_layer!r}; valid: "
                             f"{', '.join(backbone.layers)}")
        self.requires_grad_(False)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.clip is not None:
            return self.clip.encode_image(x)
        if self.pooling == "deepest":
            return F.normalize(self.backbone.embed(x.clamp(-1, 1)), dim=-1)
        return self._pool(self.backbone.features(self._resized(x)))

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.backbone.features(self._resized(x), [self.token_layer])[self.token_layer]
        return self._tokens(fmap)

    def embed_and_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embed(x), tokens(x))``, with one backbone pass when both come from its maps."""
        if self.clip is not None or self.pooling == "deepest":
            return self.embed(x), self.tokens(x)
        maps = self.backbone.features(self._resized(x))
        return self._pool(maps), self._tokens(maps[self.token_layer])

    def _resized(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x.clamp(-1, 1), size=(self.token_size,) * 2, mode="bilinear",
                             antialias=True, align_corners=False)

    def _pool(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.pooling == "stats":  # Gatys / AdaIN style statistics: channel means and stds
            pooled = [F.normalize(torch.cat([m.mean(dim=(2, 3)), m.std(dim=(2, 3))], 1), dim=-1)
                      for m in maps.values()]
        else:
            pooled = [F.normalize(m.mean(dim=(2, 3)), dim=-1) for m in maps.values()]
        return F.normalize(torch.cat(pooled, dim=1), dim=-1)

    @staticmethod
    def _tokens(fmap: torch.Tensor) -> torch.Tensor:
        return F.normalize(fmap.flatten(2).transpose(1, 2), dim=-1)  # (N, H*W, C)

    def train(self, mode: bool = True) -> ImageEmbedder:
        return super().train(False)


def load_embedder(name: str = DEFAULT_EMBED, device: str | torch.device = "cpu",
                  pooling: str = "stats") -> ImageEmbedder:
    """The embedder ``name``: a backbone name (see :func:`stylelab.perceptual.list_backbones`)
    or ``"clip:<model>"``. ValueError for an unknown backbone; the loaders' own errors
    (:class:`~stylelab.perceptual.BackboneUnavailable`, :class:`~stylelab.clip.ClipError`)
    say what to install."""
    if name.startswith("clip:"):
        from ..clip import load_clip

        clip = load_clip(name[len("clip:"):] or None, device)
        backbone = load_backbone(DEFAULT_EMBED, device)
        return ImageEmbedder(f"clip:{clip.name}", backbone, TOKEN_LAYERS[DEFAULT_EMBED], clip)
    backbone = load_backbone(name, device)
    layer = TOKEN_LAYERS.get(name, backbone.layers[len(backbone.layers) // 2])
    return ImageEmbedder(name, backbone, layer, pooling=pooling)


@torch.no_grad()
def parent_embeddings(G, encode: Callable[[torch.Tensor], torch.Tensor], n: int, size: int,
                      psi: float = 1.0, seed: int = 12345, batch: int = 8) -> torch.Tensor:
    """``(n, D)`` embeddings ``encode(images)`` of ``n`` faces of the parent ``G`` at ``size``
    (a fixed seed: the same faces every run), rendered ``batch`` at a time."""
    w = G.sample_w(n, seed=seed, truncation_psi=psi)
    return torch.cat([encode(G.synthesis(w[i:i + batch], size=size)) for i in range(0, n, batch)])


def embedder_from(backbone: Backbone, clip: nn.Module | None = None,
                  token_layer: str | None = None, token_size: int = 224,
                  pooling: str = "stats") -> ImageEmbedder:
    """An embedder from components already loaded (tests, notebooks)."""
    layer = token_layer or TOKEN_LAYERS.get(backbone.name,
                                            backbone.layers[len(backbone.layers) // 2])
    name = f"clip:{clip.name}" if clip is not None else backbone.name
    return ImageEmbedder(name, backbone, layer, clip, token_size, pooling)
