"""The inversion objective: pixel + perceptual + identity + latent regularisers.

``loss = pixel * MSE(image, target)
       + perceptual * P(image, target)
       + identity * identity(image)                      (only with an identity model)
       + w_avg * mean((w - w_avg)**2)                    (pull towards the average face)
       + delta * mean((w_i - mean_i w_i)**2)             (W+ only)``

The "delta" term is a variant of e4e's delta regulariser (Tov et al. 2021, which
penalises ``||w_i - w_0||``): the spread of the W+ entries around their mean keeps the
code near W, which keeps it editable. It also moves the W+ entries that the
synthesis size does not use (at 256 px MobileStyleGAN's last 6) towards the others,
so the code still renders sensibly at full resolution.

Perceptual term ``P``. The usual choice, LPIPS, needs ImageNet VGG/AlexNet weights
that are not available offline, so by default (``perceptual="auto"``) the term is
multi-scale structural dissimilarity: the mean of ``1 - ms_ssim`` on the image
and on its 2x and 4x (area) downsampled versions. MS-SSIM compares local means,
contrasts and correlations over 5 dyadic scales; the downsampled copies weight
coarse structure (face layout, hair outline) more. If the ``lpips`` package is importable *and* its
VGG backbone is already in the torch hub cache (nothing is ever downloaded),
``"auto"`` uses real LPIPS instead; ``"lpips"`` requires it and ``"ms-ssim"``
never uses it. ``"vgg16"`` is the LPIPS-style distance of :mod:`stylelab.perceptual` over
the offline VGG16 trunk (uncalibrated, equal layer weights), computed on images resized to
``perceptual_size`` px (None: as rendered); it costs a VGG16 forward and backward per step
(on 2 CPU cores about 0.6 s at 256 px, 0.2 s at 128 px).

Identity: any :class:`IdentityLoss` model (``embed`` + ``identity_loss``, such as
:class:`stylelab.faces.IdentityModel`); the objective embeds the target once and uses
``identity_loss(image, reference)``. StyleCLIP's optimisation and mapper take the same
interface.

Noise: both stylelab generators render with fixed ("const") noise buffers, which
are not optimised, so the StyleGAN2 projector's noise regulariser is not needed;
inversion works on the latent (and for PTI the weights) only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from ..metrics import combine_ms_ssim, ms_ssim_scales, ssim_pyramid


@runtime_checkable
class IdentityLoss(Protocol):
    """A face-identity model used as a loss (one interface for every method).

    ``embed(images (N, 3, S, S) in [-1, 1]) -> (N, D)`` descriptors (differentiable);
    ``identity_loss(images, reference (D,) or (N, D)) -> (N,)``, e.g. ``1 - cosine``.
    """

    def embed(self, images: torch.Tensor) -> torch.Tensor: ...

    def identity_loss(self, images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor: ...


def identity_term(identity: IdentityLoss | None, target: torch.Tensor
                  ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """``images -> (N,)`` identity loss to ``target``'s face (embedded once), or None."""
    if identity is None:
        return None
    with torch.no_grad():
        reference = identity.embed(target).detach()
    return lambda images: identity.identity_loss(images, reference)
PERCEPTUAL_KINDS = ("auto", "ms-ssim", "lpips", "vgg16")


@dataclass(frozen=True)
class InversionLoss:
    """Weights of the loss terms (0 switches a term off) and the perceptual backend."""

    pixel: float = 1.0
    perceptual_weight: float = 1.0
    perceptual: str = "auto"  # "auto" | "ms-ssim" | "lpips" | "vgg16"
    perceptual_size: int | None = None  # "vgg16": resize to this side first (None: as is)
    identity: float = 0.1  # used only when an identity model is passed
    w_avg: float = 0.0
    delta: float = 1e-2

    def __post_init__(self) -> None:
        if self.perceptual not in PERCEPTUAL_KINDS:
            raise ValueError(f"perceptual must be one of {PERCEPTUAL_KINDS}, got {self.perceptual!r}")


def ms_ssim_distance(x: torch.Tensor, y: torch.Tensor, factors: tuple[int, ...] = (1, 2, 4)
                     ) -> torch.Tensor:
    """Mean of ``1 - ms_ssim`` over the image and its 2x, 4x, ... downsampled copies:
    ``(N,)`` in [0, 1]. ``factors``: powers of two.

    A copy downsampled by ``2**k`` is level ``k`` of MS-SSIM's own 2x pyramid, so the
    per-level SSIM terms are computed once and shared (5 levels instead of 5 + 4 + 3 at
    256 px; equal to pooling by ``2**k`` directly for sizes divisible by ``2**k``).
    """
    ks = [f.bit_length() - 1 for f in factors]
    if any(f < 1 or f != 1 << k for f, k in zip(factors, ks, strict=True)):
        raise ValueError(f"factors must be powers of two, got {factors}")
    size = min(x.shape[-2:])
    ks = [k for k in ks if size // 2**k >= 8]
    if not ks:
        raise ValueError(f"images must be at least 8 px for MS-SSIM, got {size} px")
    counts = {k: ms_ssim_scales(-(-size // 2**k)) for k in ks}
    levels = ssim_pyramid(x, y, max(k + n for k, n in counts.items()))
    terms = [1 - combine_ms_ssim(levels[k:k + n]) for k, n in counts.items()]
    return torch.stack(terms).mean(0)


def load_lpips() -> nn.Module | None:
    """LPIPS-VGG from the ``lpips`` package if it and its backbone are available offline, else None."""
    try:
        import lpips  # type: ignore[import-not-found]
    except ImportError:
        return None
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    if not any(checkpoints.glob("vgg16-*.pth")):  # torchvision would download it
        return None
    try:
        return lpips.LPIPS(net="vgg", verbose=False).eval().requires_grad_(False)
    except Exception:  # noqa: BLE001 - any failure means "not available offline"
        return None


class VGGTerm:
    """The "vgg16" term: ``term(x, y) -> (N,)``, and ``term.against(y)`` for a fixed ``y``
    (its features computed once). Images are clamped to [-1, 1] first."""

    def __init__(self, size: int | None = None):
        from ..perceptual.distance import PerceptualDistance

        self.dist = PerceptualDistance("vgg16", resize=size)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.dist.to(x.device)(x.clamp(-1, 1), y.clamp(-1, 1))

    def against(self, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        fn = self.dist.to(y.device).against(y.clamp(-1, 1))
        return lambda x: fn(x.clamp(-1, 1))


def perceptual_fn(kind: str, size: int | None = None
                  ) -> tuple[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """Resolve ``kind`` to ``(name, fn(x, y) -> (N,))``; raise if "lpips" is not available.
    ``size``: for "vgg16", the side images are resized to first."""
    if kind == "vgg16":
        return "vgg16", VGGTerm(size)
    net = load_lpips() if kind in ("auto", "lpips") else None
    if net is None and kind == "lpips":
        raise RuntimeError("perceptual='lpips' needs the lpips package and cached VGG16 weights "
                           "(torch hub); use 'ms-ssim' or 'auto' offline")
    if net is None:
        return "ms-ssim", ms_ssim_distance
    return "lpips", lambda x, y: net.to(x.device)(x, y, normalize=False).flatten()


def latent_regularisers(latent: torch.Tensor, w_avg: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{"w_avg": mean sq. distance to w_avg, "delta": mean sq. distance of W+ entries to
    their mean}``; ``latent``: W ``(N, D)`` or W+ ``(N, K, D)``. "delta" is 0 for W."""
    reg = {"w_avg": (latent - w_avg).square().mean()}
    if latent.ndim == 3:
        reg["delta"] = (latent - latent.mean(1, keepdim=True)).square().mean()
    else:
        reg["delta"] = latent.new_zeros(())
    return reg


class Objective:
    """The objective for one ``target (1, 3, S, S)`` in [-1, 1] (build it with :func:`build_loss`).

    ``objective(image (1, 3, S, S), latent) -> (scalar total, {term: float, "total": float})``;
    ``perceptual_kind`` says which perceptual backend was resolved ("ms-ssim" | "lpips").
    """

    def __init__(self, config: InversionLoss, target: torch.Tensor, w_avg: torch.Tensor,
                 identity: IdentityLoss | None = None):
        self.config, self.target, self.w_avg = config, target.detach(), w_avg
        self.identity = identity_term(identity, self.target)
        self.perceptual_kind, self.perceptual = perceptual_fn(config.perceptual,
                                                              config.perceptual_size)
        against = getattr(self.perceptual, "against", None)
        self.to_target = against(self.target) if against and config.perceptual_weight \
            else (lambda image: self.perceptual(image, self.target))

    def __call__(self, image: torch.Tensor, latent: torch.Tensor
                 ) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        terms = {"pixel": F.mse_loss(image, self.target)}
        if c.perceptual_weight:  # the costliest term: skipped when switched off
            terms["perceptual"] = self.to_target(image).mean()
        if self.identity is not None:
            terms["identity"] = self.identity(image).mean()
        terms.update(latent_regularisers(latent, self.w_avg))
        weights = {"pixel": c.pixel, "perceptual": c.perceptual_weight, "identity": c.identity,
                   "w_avg": c.w_avg, "delta": c.delta}
        total = image.new_zeros(())
        for name, value in terms.items():
            if weights[name]:
                total = total + weights[name] * value
        out = {k: float(v.detach()) for k, v in terms.items()}
        out["total"] = float(total.detach())
        return total, out


def build_loss(config: InversionLoss, target: torch.Tensor, w_avg: torch.Tensor,
               identity: IdentityLoss | None = None) -> Objective:
    """The inversion objective for ``target (1, 3, S, S)`` in [-1, 1]; see :class:`Objective`."""
    return Objective(config, target, w_avg, identity)
