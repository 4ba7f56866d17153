"""The "furry cars" appearance measure: a differentiable histogram of learnt filter responses.

A small bank of convolution filters is applied to a face; each response (tanh, in (-1, 1)) is
soft-assigned to ``bins`` triangular bins, averaged inside a face mask, and the square roots
of the ``filters x bins`` histogram (unit norm) are the appearance embedding: cosine
similarity of two embeddings is the Bhattacharyya coefficient of their histograms. Pooling
over positions makes it blind to where things are (shape, pose); the filters are learnt with
NT-Xent so that the same appearance in another pose (the coarse W+ entries style-mixed from
another latent) is the positive and other appearances (other fine entries, other filter
domains) the negatives: :mod:`training/train_appearance.py`, shipped in
``stylelab/assets/appearance/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..adaptation.filters import apply_filter
from ..cache import CacheError, load_checked
from ..latents import style_mix
from ..models.base import StyleGenerator

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "appearance"
FACE_CENTRE, FACE_RADII = (0.5, 0.54), (0.30, 0.38)  # FFHQ alignment, fractions of the side


def face_mask(size: int) -> torch.Tensor:
    """``(1, 1, size, size)`` in [0, 1]: a soft ellipse over the face of an FFHQ-aligned image
    (cheek to cheek, brows to chin), the same for every aligned face and domain."""
    ys, xs = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size),
                            indexing="ij")
    r = ((xs - FACE_CENTRE[0]) / FACE_RADII[0]) ** 2 + ((ys - FACE_CENTRE[1]) / FACE_RADII[1]) ** 2
    return torch.sigmoid((1 - r) * 8)[None, None]


@dataclass(frozen=True)
class AppearanceConfig:
    filters: int = 16
    kernel: int = 7
    bins: int = 8
    size: int = 64  # images are resized to this before filtering


class AppearanceModel(nn.Module):
    """Images ``(N, 3, H, W)`` in [-1, 1] -> appearance embeddings ``(N, filters * bins)``
    (unit norm). ``mask``: ``(N or 1, 1, H, W)`` in [0, 1], default :func:`face_mask`."""

    def __init__(self, config: AppearanceConfig = AppearanceConfig()):
        super().__init__()
        self.config = config
        self.conv = nn.Conv2d(3, config.filters, config.kernel, padding=config.kernel // 2)
        self.register_buffer("centres", torch.linspace(-1, 1, config.bins), persistent=False)

    def histogram(self, images: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, filters, bins)`` soft histograms (each sums to 1 over bins)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        size = self.config.size
        x = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
        m = face_mask(size).to(x) if mask is None else F.interpolate(
            mask.to(x), size=(size, size), mode="bilinear", align_corners=False)
        r = torch.tanh(self.conv(x))                                  # (N, F, s, s)
        width = 2 / (self.config.bins - 1)
        assign = (1 - (r[:, :, None] - self.centres[:, None, None]).abs() / width).clamp(min=0)
        weights = m[:, :, None]                                      # (N|1, 1, 1, s, s)
        return (assign * weights).sum((-2, -1)) / weights.sum((-2, -1)).clamp(min=1e-6)

    def forward(self, images: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.histogram(images, mask).clamp(min=0).add(1e-8).sqrt().flatten(1)
        return F.normalize(h, dim=1)

    def similarity(self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None
                   ) -> torch.Tensor:
        """``(N,)`` cosine similarity of the appearances of ``a`` and ``b`` (1 = the same)."""
        return (self(a, mask) * self(b, mask)).sum(1)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """NT-Xent (SimCLR): ``a[i]`` and ``b[i]`` (unit norm, ``(N, D)``) are positives, every
    other row of both views a negative."""
    z = torch.cat([a, b])
    logits = z @ z.T / temperature
    logits.fill_diagonal_(float("-inf"))
    n = len(a)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, target)


@torch.no_grad()
def render_views(G: StyleGenerator, n: int, poses: int, *, cut: int, filters: list[str],
                 seed: int = 0, size: int = 64, truncation_psi: float = 0.8,
                 render_size: int | None = None) -> torch.Tensor:
    """``(n, poses, 3, size, size)``: appearance ``i`` (fine W+ entries ``>= cut`` of latent
    ``i``, through filter ``filters[i % len(filters)]``, "none" = unfiltered) in ``poses``
    poses (coarse entries from other latents)."""
    wp = G.to_wplus(G.sample_w(n * (poses + 1), seed=seed, truncation_psi=truncation_psi))
    app, pose = wp[:n], wp[n:].reshape(n, poses, G.num_ws, G.w_dim)
    out = []
    for i in range(n):
        mixed = style_mix(pose[i], app[i:i + 1], range(cut, G.num_ws))
        images = G.synthesis(mixed, size=render_size or min(G.sizes)).clamp(-1, 1)
        name = filters[i % len(filters)]
        if name != "none":
            images = apply_filter(name, images)
        out.append(F.interpolate(images, size=(size, size), mode="area"))
    return torch.stack(out)


def retrieval_accuracy(model: nn.Module, views: torch.Tensor) -> float:
    """Top-1 accuracy of finding view 1 of each appearance among the view 1s of all, from its
    view 0 (``views: (n, >=2, 3, H, W)``; chance = 1/n)."""
    with torch.no_grad():
        a, b = model(views[:, 0]), model(views[:, 1])
    return float(((a @ b.T).argmax(1) == torch.arange(len(a))).float().mean())


def load_appearance(name: str = "mobilestylegan-ffhq") -> AppearanceModel:
    """The shipped appearance measure trained on ``name``'s faces and filter domains."""
    path = ASSETS / f"{name}.safetensors"
    if not path.is_file():
        raise CacheError(f"no appearance measure for {name!r}; train one with "
                         f"`python training/train_appearance.py --model {name}`")
    state = load_checked(path)
    conv = state["conv.weight"]
    model = AppearanceModel(AppearanceConfig(filters=conv.shape[0], kernel=conv.shape[-1],
                                             bins=int(state["bins"].item())))
    model.load_state_dict({k: v.float() for k, v in state.items() if k.startswith("conv.")})
    return model.eval().requires_grad_(False)
