"""StyleSpace (S) helpers shared by every method: flat S vectors, channel names, channel
spreads and the latent signature that direction and cache files are checked against.

A generator's S space is the concatenation of its style layers in
:attr:`~stylelab.models.base.StyleGenerator.style_layers` order, ``S = s_dim(G)`` channels.
"""

from __future__ import annotations

import torch

from .base import StyleGenerator, Styles


def latent_signature(G: StyleGenerator, space: str) -> str:
    """A short description of ``G``'s latent layout in ``space`` ("w" or "s"): model (the
    parent for an adapted child, see :func:`latent_owner`), dims, layers. Files made for
    another layout are refused by comparing signatures."""
    if space == "w":
        return f"{latent_owner(G)}:w{G.w_dim}x{G.num_ws}"
    return f"{latent_owner(G, 's')}:s{s_dim(G)}x{len(G.style_layers)}"


def latent_owner(G: StyleGenerator, space: str = "w") -> str:
    """The model whose latent space ``G`` uses: an adapted child (``parent_name`` set) shares
    its parent's W (the mapping never trains) and S (unless its style affines trained)."""
    parent = getattr(G, "parent_name", None)
    if parent and (space == "w" or getattr(G, "shares_styles", True)):
        return parent
    return G.model_name


def s_dim(G: StyleGenerator) -> int:
    """Total StyleSpace channels."""
    return sum(layer.channels for layer in G.style_layers)


def s_offsets(G: StyleGenerator) -> dict[str, tuple[int, int]]:
    """``{layer name: (start, stop)}`` of each style layer in the flattened S vector."""
    out, start = {}, 0
    for layer in G.style_layers:
        out[layer.name] = (start, start + layer.channels)
        start += layer.channels
    return out


def flatten_styles(G: StyleGenerator, styles: Styles) -> torch.Tensor:
    """``{layer: (N, C_l)}`` -> ``(N, S)``."""
    return torch.cat([styles[layer.name] for layer in G.style_layers], dim=1)


def unflatten_styles(G: StyleGenerator, flat: torch.Tensor) -> Styles:
    """``(N, S)`` -> ``{layer: (N, C_l)}`` (views into ``flat``)."""
    return {name: flat[:, a:b] for name, (a, b) in s_offsets(G).items()}


def channel_name(G: StyleGenerator, index: int) -> str:
    """Flat S index -> ``"layer:channel"``; ValueError outside ``0..S-1``."""
    for name, (a, b) in s_offsets(G).items():
        if a <= index < b:
            return f"{name}:{index - a}"
    raise ValueError(f"S index {index} is outside 0..{s_dim(G) - 1}")


def style_std(G: StyleGenerator, samples: int = 2000, seed: int = 0) -> torch.Tensor:
    """``(S,)`` standard deviation of each S channel over mapped z (truncation 1), on the CPU."""
    return style_mean_std(G, samples, seed)[1]


def style_mean_std(G: StyleGenerator, samples: int = 2000, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(S,)`` mean and ``(S,)`` standard deviation of each S channel over mapped z
    (truncation 1), on the CPU."""
    with torch.no_grad():
        flat = flatten_styles(G, G.w_to_s(G.sample_w(samples, seed=seed))).cpu()
    return flat.mean(0), flat.std(0)
