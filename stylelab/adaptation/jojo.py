"""JoJoGAN-style one-shot stylisation (Chong & Forsyth 2022, arXiv 2112.11641), adapted.

1. The reference is inverted into W+ (given ``latent``, else our e4e encoder when trained,
   else optimisation inversion).
2. Training pairs: the reference code with its fine entries (``mix_layers``) replaced by
   those of random ``w`` (style mixing, blend ``alpha`` of the reference kept), all mapped to
   the one reference image: the child learns that every face with these coarse features
   looks like the reference.
3. Loss: JoJoGAN matches StyleGAN discriminator activations; we have no discriminator, so we
   match the feature maps of a frozen ImageNet backbone (VGG16 by default, L1 over all its
   maps), which is what its "perceptual" variant does.

``preserve_colour`` mixes only a few fine layers (JoJoGAN's 9, 11, 15, 16, 17 of 18, mapped
proportionally onto the generator's W+ entries) so that the child keeps each face's colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..inversion.optimize import OptimizeConfig, invert
from ..models.base import StyleGenerator
from ..perceptual import Backbone
from .loop import AdaptConfig, StepLoss, training_size
from .losses import feature_matching

JOJO_FINE_FROM = 7 / 18  # JoJoGAN mixes W+ entries 7.. of StyleGAN2-1024's 18
JOJO_COLOUR = (9, 11, 15, 16, 17)


@dataclass(frozen=True)
class JoJoConfig(AdaptConfig):
    """JoJoGAN's settings (lr 2e-3, betas (0, 0.99)); batch 2 instead of 4 on CPU."""

    steps: int = 200
    lr: float = 0.002
    alpha: float = 0.0  # share of the reference kept in the mixed entries (JoJoGAN's slider)
    preserve_colour: bool = False
    backbone: str = "vgg16"
    inversion_steps: int = 200


def mix_layers(G: StyleGenerator, preserve_colour: bool) -> list[int]:
    """W+ entries replaced by random codes."""
    last = G.num_ws - 1
    if preserve_colour:
        return sorted({round(i * last / 17) for i in JOJO_COLOUR})
    return list(range(round(JOJO_FINE_FROM * G.num_ws), G.num_ws))


def reference_latent(G: StyleGenerator, reference: torch.Tensor, steps: int,
                     progress: bool = True) -> torch.Tensor:
    """``(1, num_ws, w_dim)`` W+ code of ``reference``: our e4e encoder when trained for
    ``G``, refined by ``steps`` of optimisation (none with an encoder and steps 0)."""
    from .difa import default_inverter

    inverter = default_inverter(G)
    init = None
    if inverter is not None:
        with torch.no_grad():
            init = inverter(reference)
        if steps == 0:
            return init
    result = invert(G, reference, OptimizeConfig(space="w+", steps=max(steps, 1),
                                                 size=reference.shape[-1]),
                    init=init, progress=progress)
    return G.to_wplus(result.latent.to(G.device))


def jojo_loss(G: StyleGenerator, reference: torch.Tensor, latent: torch.Tensor,
              backbone: Backbone, config: JoJoConfig) -> StepLoss:
    """The per-step loss closure: ``reference (1, 3, H, W)``, its W+ ``latent``."""
    size = training_size(G, config.size)
    ref = torch.nn.functional.interpolate(reference, size=(size, size), mode="bilinear",
                                          antialias=True, align_corners=False)
    layers = list(backbone.layers)
    with torch.no_grad():
        target = backbone.features(ref.clamp(-1, 1), layers)
    mixed = mix_layers(G, config.preserve_colour)
    base = G.to_wplus(latent.to(G.device))

    def step_loss(child: StyleGenerator, step: int, w: torch.Tensor):
        codes = base.repeat(len(w), 1, 1)
        codes[:, mixed] = config.alpha * codes[:, mixed] + (1 - config.alpha) * w[:, None]
        loss = feature_matching(backbone, layers, child.synthesis(codes, size=size), target)
        return loss, {"features": float(loss.detach())}

    return step_loss
