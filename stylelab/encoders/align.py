"""CLCAE's contrastive alignment of W and images (Liu et al., CVPR 2023, section 3.1).

Pairs (image I, latent w) come from the generator. Two towers embed them in one space:

* :class:`ImageTower` ``h_I``: backbone deepest map -> map2style block -> ``feature_dim``
  (512 in the paper) -> Linear-BN-ReLU-Linear head -> ``embed_dim``;
* :class:`LatentTower` ``h_w``: the single token ``w - w_avg`` plus a learnt position
  embedding -> ``transformer_layers`` (3) transformer encoder layers (d = w_dim, 4 heads,
  feed-forward 2 d) -> the same kind of head.

Both embeddings are L2-normalised and trained with CLIP's symmetric InfoNCE
(:func:`info_nce`): ``lambda * CE(s I w^T) + (1 - lambda) * CE(s w I^T)`` with ``lambda = 0.5``
and a learnable logit scale ``s = 1 / temperature`` (initial temperature 0.07, ``s`` clamped
to ``max_logit_scale``). Then the module is frozen (:meth:`WImageAligner.freeze`) and
:meth:`WImageAligner.align_loss` pulls an encoder's predicted ``w`` towards the latent that
truly corresponds to the image.

The paper's image tower is pSp's IR-SE50; stylelab uses an ImageNet EfficientNet-Lite0
(:mod:`stylelab.perceptual`), fine-tuned. Over one token, self-attention is a projection
(softmax of one score is 1), so the latent tower is in effect a residual MLP: that is the
paper's design, kept as is. Images are ``(N, 3, S, S)`` in [-1, 1], resized (bilinear,
antialiased) to ``image_size`` first; latents ``(N, w_dim)`` in W.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..perceptual.backbones import Backbone, load_backbone, resize_images
from .map2style import Map2Style
from .pyramid import freeze_unused


@dataclass(frozen=True)
class AlignmentConfig:
    """Sizes of the two towers and the loss. ``image_layer``: the backbone map the image tower
    reads (None: the deepest)."""

    w_dim: int = 512
    backbone: str = "efficientnet-lite0"
    image_layer: str | None = None
    image_size: int = 128
    feature_dim: int = 512
    map_hidden: int = 256
    embed_dim: int = 256
    transformer_layers: int = 3
    heads: int = 4
    ffn_mult: int = 2
    dropout: float = 0.0
    balance: float = 0.5  # lambda: weight of the image -> latent direction
    temperature: float = 0.07
    max_logit_scale: float = 100.0
    train_backbone: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> AlignmentConfig:
        return cls(**data)


def projection_head(dim_in: int, hidden: int, dim_out: int) -> nn.Sequential:
    """CLCAE's Linear-BN-ReLU-Linear head: ``(N, dim_in) -> (N, dim_out)``."""
    return nn.Sequential(nn.Linear(dim_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, dim_out))


class ImageTower(nn.Module):
    """``h_I``: images (N, 3, S, S) in [-1, 1] -> (N, embed_dim) (not normalised)."""

    def __init__(self, config: AlignmentConfig, backbone: Backbone | None = None):
        super().__init__()
        self.config = config
        self.backbone = backbone or load_backbone(config.backbone)
        self.layer = config.image_layer or self.backbone.layers[-1]
        self.backbone.requires_grad_(config.train_backbone)
        if config.train_backbone:
            freeze_unused(self.backbone, [self.layer])
        with torch.no_grad():
            probe = torch.zeros(1, 3, config.image_size, config.image_size)
            spatial = self.backbone.features(probe, [self.layer])[self.layer].shape[-1]
        self.map2style = Map2Style(self.backbone.channels[self.layer], spatial,
                                   config.feature_dim, hidden=config.map_hidden, out_scale=1.0)
        self.head = projection_head(config.feature_dim, config.feature_dim, config.embed_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = resize_images(images, self.config.image_size)
        feats = self.backbone.features(x, [self.layer])[self.layer]
        return self.head(self.map2style(feats)[:, 0])


class LatentTower(nn.Module):
    """``h_w``: w (N, w_dim) -> (N, embed_dim) (not normalised)."""

    def __init__(self, config: AlignmentConfig, w_avg: torch.Tensor):
        super().__init__()
        d = config.w_dim
        self.register_buffer("w_avg", w_avg.detach().clone().float().reshape(d))
        self.position = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, config.heads, config.ffn_mult * d,
                                           dropout=config.dropout, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.transformer_layers,
                                                 enable_nested_tensor=False)
        self.head = projection_head(d, d, config.embed_dim)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        token = (w - self.w_avg)[:, None] + self.position  # (N, 1, D)
        return self.head(self.transformer(token)[:, 0])


def info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor | float,
             balance: float = 0.5) -> torch.Tensor:
    """CLIP's symmetric InfoNCE of L2-normalised embeddings ``a, b (N, E)`` (row i of each is
    a positive pair): ``balance * CE(s a b^T) + (1 - balance) * CE(s b a^T)``, a scalar >= 0."""
    logits = logit_scale * a @ b.T  # (N, N)
    labels = torch.arange(a.shape[0], device=a.device)
    return (balance * F.cross_entropy(logits, labels)
            + (1 - balance) * F.cross_entropy(logits.T, labels))


class WImageAligner(nn.Module):
    """The two towers and the learnable temperature. ``w_avg``: the generator's (w_dim,)."""

    def __init__(self, config: AlignmentConfig, w_avg: torch.Tensor,
                 backbone: Backbone | None = None):
        super().__init__()
        self.config = config
        self.image_tower = ImageTower(config, backbone)
        self.latent_tower = LatentTower(config, w_avg)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature)))

    @property
    def scale(self) -> torch.Tensor:
        """``exp(logit_scale)`` clamped to ``[1, max_logit_scale]`` (1 / temperature)."""
        return self.logit_scale.clamp(0.0, math.log(self.config.max_logit_scale)).exp()

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [-1, 1] -> (N, embed_dim), unit L2 norm."""
        return F.normalize(self.image_tower(images), dim=-1)

    def embed_latents(self, w: torch.Tensor) -> torch.Tensor:
        """(N, w_dim) -> (N, embed_dim), unit L2 norm."""
        if w.ndim != 2 or w.shape[1] != self.config.w_dim:
            raise ValueError(f"w must be (N, {self.config.w_dim}), got {tuple(w.shape)}")
        return F.normalize(self.latent_tower(w), dim=-1)

    def loss(self, images: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE of a batch of N >= 2 true pairs (scalar)."""
        if images.shape[0] < 2 or images.shape[0] != w.shape[0]:
            raise ValueError(f"contrastive training needs N >= 2 pairs, got "
                             f"{images.shape[0]} images and {w.shape[0]} latents")
        return info_nce(self.embed_images(images), self.embed_latents(w), self.scale,
                         self.config.balance)

    def forward(self, images: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """:meth:`loss` (so that a DDP-wrapped aligner trains through its forward)."""
        return self.loss(images, w)

    def freeze(self) -> WImageAligner:
        """Eval mode, no gradients for the aligner's own weights: a fixed loss."""
        return self.eval().requires_grad_(False)

    def align_loss(self, images: torch.Tensor, w_hat: torch.Tensor,
                   mode: str = "infonce") -> torch.Tensor:
        """``L_align(I, w_hat)`` (scalar), differentiable in ``w_hat`` (N, w_dim) only.

        ``mode="infonce"``: the InfoNCE above with the learnt temperature (the paper; a batch
        of one falls back to the cosine form); ``"cosine"``: mean ``1 - cos(h_I(I), h_w(w_hat))``.
        The aligner must be frozen first (:meth:`freeze`): batch norm uses its statistics.
        """
        if self.training:
            raise RuntimeError("align_loss needs a frozen aligner: call aligner.freeze() first")
        if mode not in ("infonce", "cosine"):
            raise ValueError(f"mode must be 'infonce' or 'cosine', got {mode!r}")
        with torch.no_grad():
            e_img = self.embed_images(images)
        e_w = self.embed_latents(w_hat)
        if mode == "cosine" or images.shape[0] < 2:
            return (1 - (e_img * e_w).sum(-1)).mean()
        return info_nce(e_img, e_w, self.scale.detach(), self.config.balance)

    @torch.no_grad()
    def retrieval_accuracy(self, images: torch.Tensor, w: torch.Tensor) -> tuple[float, float]:
        """Top-1 retrieval accuracy within the batch: (image -> latent, latent -> image)."""
        sims = self.embed_images(images) @ self.embed_latents(w).T
        target = torch.arange(sims.shape[0], device=sims.device)
        return ((sims.argmax(1) == target).float().mean().item(),
                (sims.argmax(0) == target).float().mean().item())
