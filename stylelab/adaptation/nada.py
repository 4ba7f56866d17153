"""StyleGAN-NADA: text-driven zero-shot domain adaptation (Gal et al., SIGGRAPH 2022,
arXiv 2108.00946), for any :class:`~stylelab.clip.TextImageModel`.

* Directional loss: ``1 - cos(E_I(G_t(w)) - E_I(G_s(w)), E_T(target) - E_T(source))``, the
  image change's norm floored at ``direction_floor`` times the spread of parent faces'
  embeddings (ours: the cosine is singular at the first step, where the child is the parent;
  see :func:`~.losses.directional_loss`).
* Adaptive layer selection: each step, the W+ codes of the batch are optimised for
  ``selection_steps`` Adam steps towards the target text (global loss
  ``1 - cos(E_I(G_t(w+)), E_T(target))``); the ``layers`` W+ entries that moved most are the
  ones whose synthesis layers train this step (the image heads stay frozen).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..clip.base import ClipError, TextImageModel
from ..models.base import StyleGenerator
from .embed import parent_embeddings
from .loop import AdaptConfig, trainable_names, training_size
from .losses import directional_loss


@dataclass(frozen=True)
class NADAConfig(AdaptConfig):
    """NADA's settings (lr 0.002, batch 2). ``layers`` 0 trains every layer each step."""

    steps: int = 200
    lr: float = 0.002
    layers: int = 8
    selection_steps: int = 1
    selection_lr: float = 0.01
    direction_floor: float = 0.1  # of the parent faces' embedding spread: losses.directional_loss


def text_direction(clip: TextImageModel, source: str, target: str) -> torch.Tensor:
    """``(D,)`` unit ``E_T(target) - E_T(source)``; ClipError for empty or equal texts."""
    if not source.strip() or not target.strip():
        raise ClipError("give both a source text (e.g. 'photo') and a target text "
                        "(e.g. 'sketch')")
    if source.strip().lower() == target.strip().lower():
        raise ClipError("the source and target texts are the same: describe the change")
    emb = clip.encode_text([source, target])
    direction = emb[1] - emb[0]
    if float(direction.norm()) < 1e-6:
        raise ClipError(f"{clip.name} embeds {source!r} and {target!r} identically: use words "
                        "it knows")
    return direction / direction.norm()


def select_layers(child: StyleGenerator, clip: TextImageModel, target_embed: torch.Tensor,
                  w: torch.Tensor, config: NADAConfig, size: int) -> list[int]:
    """The ``config.layers`` W+ entries that a few global-loss steps move most."""
    with torch.enable_grad():
        codes = child.to_wplus(w.detach()).clone().requires_grad_(True)
        start = codes.detach().clone()
        opt = torch.optim.Adam([codes], lr=config.selection_lr)
        for _ in range(config.selection_steps):
            sim = clip.encode_image(child.synthesis(codes, size=size)) @ target_embed
            opt.zero_grad()
            (1 - sim).mean().backward()
            opt.step()
    moved = (codes.detach() - start).norm(dim=2).mean(0)  # (num_ws,)
    return moved.topk(min(config.layers, len(moved))).indices.tolist()


def nada_loss(G: StyleGenerator, clip: TextImageModel, source_text: str, target_text: str,
              config: NADAConfig):
    """``(step_loss, select)`` for :func:`~.loop.train`: the loss closure and the per-step
    choice of parameters (None: all)."""
    size = training_size(G, config.size)
    direction = text_direction(clip, source_text, target_text).to(G.device)
    target_embed = clip.encode_text([target_text])[0].to(G.device)
    with torch.no_grad():  # the scale of an image change in this model's embedding
        parents = parent_embeddings(G, clip.encode_image, 4, size, config.psi).float()
    floor = config.direction_floor * float(torch.pdist(parents).mean())

    def step_loss(child: StyleGenerator, step: int, w: torch.Tensor):
        with torch.no_grad():
            source_embed = clip.encode_image(G.synthesis(w, size=size))
        loss = directional_loss(clip.encode_image(child.synthesis(w, size=size)),
                                source_embed, direction, floor)
        return loss, {"directional": float(loss.detach())}

    def select(child: StyleGenerator, step: int, w: torch.Tensor) -> list[str] | None:
        if config.layers <= 0 or config.layers >= G.num_ws:
            return None
        chosen = select_layers(child, clip, target_embed, w, config, size)
        return trainable_names(child, w_indices=chosen, rgb=config.train_rgb,
                               affines=config.train_affines)

    return step_loss, select
