"""DiFa: diverse and faithful one-shot adaptation (Zhang et al., NeurIPS 2022, arXiv 2207.08736).

Read from the paper and the official code (``YBYBZhang/DiFa``); written here for any
:class:`~stylelab.models.StyleGenerator` and any image embedding:

* trainable: the synthesis convolutions; the mapping network, the style affines and the image
  heads stay frozen, so W, W+ and S mean the same face in parent and child;
* global loss: :func:`~.losses.directional_loss` between ``E(G_t(w)) - E(G_s(w))`` and the
  reference direction ``E(ref) - E(G_s(w_ref))``, ``w_ref`` the reference inverted into W+
  (``direction="inverted"``, DiFa's: the face's content cancels and the style remains), or
  ``E(ref) - mean_w E(G_s(w))`` over ``direction_samples`` faces (``"mean"``, NADA's
  image-to-image direction; no inversion, for references that are not faces);
* attentive style loss: :func:`~.losses.relaxed_emd` between the middle-layer tokens of
  ``G_t(w)`` and of the reference;
* selective cross-domain consistency (:class:`~.losses.SelectiveConsistency`) when an
  ``inverter`` into W+ is given (the paper uses e4e; :func:`default_inverter` loads ours
  when it is trained), else the term is off and the result's config says so;
* ``reach_weight`` > 0 (ours, off by default): :func:`~.losses.reach_loss`, each sample
  should move along the reference direction as far as the reference did;
* ``direction_floor`` (ours): the global loss's change norm is floored at this fraction of
  ``|d|`` (:func:`~.losses.directional_loss`): at the first step the child is the parent,
  the cosine's gradient is singular there, and without the floor that one step's gradient
  froze Adam for the rest of the run.

Defaults: the paper's Adam (betas (0, 0.99^0.8)) and batch 2; ``lr`` 0.0016 is the paper's
for StyleGAN2's equalized weights and is scaled per tensor for MobileStyleGAN (see
:mod:`~.loop`); 200 steps instead of 300 keep a 256 px CPU run within minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.base import StyleGenerator
from .embed import ImageEmbedder, parent_embeddings
from .loop import AdaptConfig, StepLoss, training_size
from .losses import (
    Inverter,
    SelectiveConsistency,
    directional_loss,
    paired_crops,
    reach_loss,
    relaxed_emd,
)


@dataclass(frozen=True)
class DiFaConfig(AdaptConfig):
    """DiFa's settings; ``style_weight`` 0 drops the attentive loss, ``consistency_weight`` 0
    (or no inverter) the selective consistency (the paper's two ablations)."""

    steps: int = 200
    lr: float = 0.0016
    betas: tuple[float, float] = (0.0, 0.99 ** 0.8)
    global_weight: float = 1.0
    style_weight: float = 1.0
    consistency_weight: float = 1.0
    consistency_layers: int = 7
    alpha: float = 0.7
    window: int = 50
    direction: str = "inverted"  # "inverted" | "mean"
    direction_samples: int = 32
    inversion_steps: int = 200
    crops: int = 0  # random paired crops for the global loss (0: whole images, the paper's)
    reach_weight: float = 0.0  # ours: also move as far as the reference did (losses.reach_loss)
    direction_floor: float = 0.1  # of |reference direction|: see losses.directional_loss

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.direction not in ("inverted", "mean"):
            raise ValueError(f"direction must be 'inverted' or 'mean', got {self.direction!r}")


def difa_loss(G: StyleGenerator, reference: torch.Tensor, embedder: ImageEmbedder,
              config: DiFaConfig, inverter: Inverter | None = None,
              latent: torch.Tensor | None = None) -> StepLoss:
    """The per-step loss closure for :func:`~.loop.train`. ``reference``: ``(1, 3, H, W)``
    in [-1, 1]; ``latent``: its W+ code for ``direction="inverted"``."""
    size = training_size(G, config.size)
    with torch.no_grad():
        ref_embed = embedder.embed(reference)[0]
        if config.direction == "inverted":
            if latent is None:
                raise ValueError("direction='inverted' needs the reference's W+ latent")
            source = embedder.embed(G.synthesis(G.to_wplus(latent.to(G.device)), size=size))[0]
        else:
            source = parent_embeddings(G, embedder.embed, config.direction_samples, size,
                                       config.psi).mean(0)
        direction = ref_embed - source
        floor = config.direction_floor * float(direction.norm())
        ref_tokens = embedder.tokens(reference)
    consistency = None
    if inverter is not None and config.consistency_weight > 0:
        consistency = SelectiveConsistency(inverter, layers=config.consistency_layers,
                                           alpha=config.alpha, window=config.window,
                                           ramp=config.window)

    def step_loss(child: StyleGenerator, step: int, w: torch.Tensor):
        with torch.no_grad():
            source = G.synthesis(w, size=size)
        target = child.synthesis(w, size=size)
        src_views, tgt_views = paired_crops(source, target, config.crops, step)
        with torch.no_grad():
            source_embed = embedder.embed(src_views)
        if config.style_weight > 0 and config.crops <= 0:  # one backbone pass for both terms
            target_embed, target_tokens = embedder.embed_and_tokens(target)
        else:
            target_embed = embedder.embed(tgt_views)
            target_tokens = embedder.tokens(target) if config.style_weight > 0 else None
        terms: dict[str, torch.Tensor] = {
            "global": directional_loss(target_embed, source_embed, direction, floor)}
        total = config.global_weight * terms["global"]
        if config.reach_weight > 0:
            terms["reach"] = reach_loss(target_embed, source_embed, direction)
            total = total + config.reach_weight * terms["reach"]
        if target_tokens is not None:
            terms["style"] = relaxed_emd(target_tokens, ref_tokens)
            total = total + config.style_weight * terms["style"]
        if consistency is not None:
            terms["consistency"] = consistency(source, target)
            total = total + config.consistency_weight * terms["consistency"]
        return total, {k: float(v.detach()) for k, v in terms.items()}

    return step_loss


def default_inverter(G: StyleGenerator) -> Inverter | None:
    """Our e4e encoder for ``G`` as an image -> W+ function (gradients flow to the image), or
    None when none is trained for this generator."""
    from ..encoders import load_encoder
    from ..encoders.registry import EncoderMismatch, EncoderUnavailable

    try:
        encoder = load_encoder(f"{G.model_name}/e4e", G, G.device)
    except (EncoderUnavailable, EncoderMismatch, ValueError):
        return None
    encoder.requires_grad_(False).eval()
    return lambda images: encoder(images.clamp(-1, 1)).wplus  # synthesis overshoots [-1, 1]
