"""The encoder training objective (pSp / e4e / CLCAE), one weighted sum.

For target images ``I`` (N, 3, S, S) in [-1, 1] and each reconstruction ``x`` in
``reconstructions`` (``"w"``: G(w), ``"wplus"``: G(w+), ``"f"``: G(w+, f), the last only when
the encoder predicts F):

    l2 * MSE(x, I) + perceptual_weight * P(x, I) + identity_weight * ID(x, I)

plus, over the whole output,

    latent * (MSE(w, w_true) + MSE(w+, w_true))     (generated faces: the true w is known)
    align * L_align(I, w)                            (a frozen CLCAE aligner, :mod:`.align`)
    f_reg * mean((f - G_k(w+))^2)                    (G_k(w+) detached, as the official code)
    delta * mean_N sum_i ||w+_i - w||_2              (e4e's delta regulariser)

Defaults are the paper's: L2 1, perceptual 0.2, identity 0.1, L_align 0.1, F 0.01; e4e's delta
weight 2e-4. The paper's LPIPS is replaced by the VGG16 LPIPS-style distance of
:mod:`stylelab.perceptual` (``perceptual="vgg16"``; any ``fn(x, y) -> (N,)`` works) and ArcFace
by any :class:`~stylelab.inversion.losses.IdentityLoss` (e.g. the dlib identity net). Rendered
images are clamped to [-1, 1] for the perceptual and identity terms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..inversion.losses import IdentityLoss
from ..models.base import StyleGenerator
from .align import WImageAligner
from .models import KINDS, EncoderOutput

Perceptual = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
RECONSTRUCTIONS = ("w", "wplus", "f")


@dataclass
class EncoderObjective:
    """Weights (0 switches a term off) and the models the terms use.

    ``perceptual``: a callable ``(x, y) -> (N,)``, a backbone name for a
    :class:`~stylelab.perceptual.distance.PerceptualDistance` (built on first use), or None.
    ``identity`` / ``aligner``: optional; their terms count only when given.
    """

    l2: float = 1.0
    perceptual_weight: float = 0.2
    identity_weight: float = 0.1
    latent: float = 1.0
    align: float = 0.1
    f_reg: float = 0.01
    delta: float = 2e-4
    perceptual: Perceptual | str | None = "vgg16"
    identity: IdentityLoss | None = None
    aligner: WImageAligner | None = None
    reconstructions: tuple[str, ...] = RECONSTRUCTIONS
    _perceptual_fn: Perceptual | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        bad = [r for r in self.reconstructions if r not in RECONSTRUCTIONS]
        if bad or not self.reconstructions:
            raise ValueError(f"reconstructions must be among {RECONSTRUCTIONS}, got "
                             f"{self.reconstructions}")

    @classmethod
    def for_kind(cls, kind: str, **overrides) -> EncoderObjective:
        """The recipe of each kind: pSp trains G(w+) only, without the delta term; e4e G(w+)
        with it; CLCAE all three reconstructions."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        defaults = {"psp": {"reconstructions": ("wplus",), "delta": 0.0, "align": 0.0},
                    "e4e": {"reconstructions": ("wplus",), "align": 0.0},
                    "clcae": {}}[kind]
        return cls(**{**defaults, **overrides})

    def perceptual_fn(self, device: torch.device) -> Perceptual | None:
        if self.perceptual is None or not self.perceptual_weight:
            return None
        if self._perceptual_fn is None:
            if isinstance(self.perceptual, str):
                from ..perceptual.distance import PerceptualDistance

                self._perceptual_fn = PerceptualDistance(self.perceptual).to(device)
            else:
                self._perceptual_fn = self.perceptual
        return self._perceptual_fn

    def __call__(self, G: StyleGenerator, out: EncoderOutput, images: torch.Tensor,
                 w_true: torch.Tensor | None = None, size: int | None = None
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        """``(total, {term: float})`` for encoder output ``out`` of ``images``; renders at
        ``size`` (default: the images' size, which must be one of ``G.sizes``)."""
        size = int(size or images.shape[-1])
        target = images.clamp(-1, 1)
        if target.shape[-1] != size:
            target = F.interpolate(target, size=(size, size), mode="area")
        terms: dict[str, torch.Tensor] = {}
        weighted: list[torch.Tensor] = []

        def add(name: str, weight: float, value: torch.Tensor) -> None:
            terms[name] = value.detach()
            weighted.append(weight * value)

        versus: Callable[[torch.Tensor], torch.Tensor] | None = None
        fn = self.perceptual_fn(images.device)
        if fn is not None:  # with .against (PerceptualDistance) the target is embedded once
            versus = fn.against(target) if hasattr(fn, "against") else _bind(fn, target)
        reference = None
        if self.identity is not None and self.identity_weight:
            with torch.no_grad():
                reference = self.identity.embed(target).detach()
        for name in self.reconstructions:
            if name == "f" and not out.f:
                continue
            latent = out.w if name == "w" else out.wplus
            x = G.synthesis(latent, size=size, features_in=out.f if name == "f" else None)
            add(f"{name}/l2", self.l2, F.mse_loss(x, target))
            if versus is not None:
                add(f"{name}/perceptual", self.perceptual_weight, versus(x.clamp(-1, 1)).mean())
            if reference is not None:
                add(f"{name}/identity", self.identity_weight,
                    self.identity.identity_loss(x.clamp(-1, 1), reference).mean())
        if w_true is not None and self.latent:
            w_true = w_true.to(out.w)
            add("latent", self.latent, F.mse_loss(out.w, w_true)
                + F.mse_loss(out.wplus, w_true[:, None].expand_as(out.wplus)))
        if self.aligner is not None and self.align:
            add("align", self.align, self.aligner.align_loss(images, out.w))
        if out.f and self.f_reg:
            name, f = next(iter(out.f.items()))
            base = (out.f_base or {}).get(name)
            if base is None:
                base = G.features(out.wplus, layers=[name])[name]
            add("f_reg", self.f_reg, (f - base.detach()).pow(2).mean())
        if self.delta:
            add("delta", self.delta, out.deltas.norm(dim=-1).sum(1).mean())
        total = torch.stack(weighted).sum()
        logs = {k: float(v) for k, v in terms.items()}
        logs["total"] = float(total.detach())
        return total, logs


def _bind(fn: Perceptual, target: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda x: fn(x, target)
