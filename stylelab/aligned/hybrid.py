"""Cross-domain hybrids by layer swapping between aligned models (FineGAN / "furry cars").

In a StyleGAN the coarse style layers (low resolutions) set shape and pose and the fine ones
set appearance (colour, texture). Two aligned models agree on what a latent means, so a
generator that takes its coarse layers from one model and its fine layers from the other
renders the first model's shape in the second model's appearance ("resolution-dependent
interpolation", Pinkney & Adler 2020). :func:`layer_weights` gives the per-layer mixing
weight (a hard cut, or a soft sigmoid blend), :func:`hybrid` builds the generator.
"""

from __future__ import annotations

import copy

import torch

from ..models.base import StyleGenerator, module_key
from .pair import as_generator, shared_lineage


def layer_weights(G: StyleGenerator, cut: float, softness: float = 0.0) -> dict[str, float]:
    """``{style layer: weight of the appearance model}`` for W+ entries ``>= cut``.

    ``cut`` in ``[0, num_ws]`` (0: all appearance model; ``num_ws``: all shape model);
    ``softness`` > 0 replaces the step by a sigmoid of width ``softness`` W+ entries."""
    if not 0 <= cut <= G.num_ws:
        raise ValueError(f"cut must be between 0 and {G.num_ws} (the model's W+ entries), "
                         f"got {cut}")
    if not 0 <= softness < float("inf"):
        raise ValueError(f"softness must be a finite number >= 0, got {softness}")
    out = {}
    for layer in G.style_layers:
        if softness == 0:
            out[layer.name] = 1.0 if layer.w_index >= cut else 0.0
        else:
            x = torch.tensor((layer.w_index + 0.5 - cut) / softness)
            out[layer.name] = float(torch.sigmoid(x))
    return out


@torch.no_grad()
def hybrid(shape: StyleGenerator, appearance: StyleGenerator, cut: float,
           softness: float = 0.0) -> StyleGenerator:
    """A generator with ``shape``'s layers below W+ entry ``cut`` and ``appearance``'s from
    ``cut`` on (each style layer's convolutions, image head and style affine move together).

    Both must be aligned (:func:`~stylelab.aligned.pair.check_aligned`); parameters outside
    the style layers (mapping, constant input) come from ``shape``. The result is a plain
    :class:`StyleGenerator` (eval, gradients off) whose latents and directions are the
    shared parent's."""
    shape, appearance = as_generator(shape), as_generator(appearance)
    digest = shared_lineage(shape, appearance)
    weights = layer_weights(shape, cut, softness)
    out = copy.deepcopy(shape).requires_grad_(False).eval()
    params, other = dict(out.named_parameters()), dict(appearance.named_parameters())
    groups, done = shape.layer_parameters(), set()
    for layer in shape.style_layers:
        alpha = weights[layer.name]
        if alpha == 0:
            continue
        key = module_key(layer.name)
        for name in (*groups[layer.name], f"affines.{key}.weight", f"affines.{key}.bias"):
            if name in params and name not in done:
                done.add(name)
                params[name].lerp_(other[name].to(params[name]), alpha)
    out.model_name = f"hybrid:{shape.model_name}|{appearance.model_name}@{cut:g}"
    out.parent_name = getattr(shape, "parent_name", None) or getattr(
        appearance, "parent_name", None) or shape.model_name
    out.parent_digest = digest
    out.shares_styles = all(getattr(g, "shares_styles", True) for g in (shape, appearance))
    return out
