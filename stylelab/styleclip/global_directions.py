"""StyleCLIP global directions: a text direction Δt becomes a StyleSpace edit Δs.

Each channel's relevance Δi_c (:mod:`.relevance`) is compared with Δt; channels with
``|Δi_c · Δt| < β`` are zeroed (disentanglement threshold), the rest keep that score,
divided by the largest magnitude. The edit adds ``α · Δs_c · σ_c`` to channel ``c``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..models.base import StyleGenerator, Styles
from ..models.stylespace import channel_name, flatten_styles, unflatten_styles
from .relevance import Relevance


@dataclass
class GlobalDirection:
    """``delta_s: (S,)`` per-channel step in σ units for α = 1 (max |value| 1, zeros
    below β); ``scores: (S,)`` the unthresholded Δi_c · Δt."""

    delta_s: torch.Tensor
    scores: torch.Tensor
    beta: float

    @property
    def channels(self) -> int:
        return int((self.delta_s != 0).sum())

    def top(self, G: StyleGenerator, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` channels with the largest |Δs|, as ("layer:channel", Δs) pairs."""
        order = self.delta_s.abs().argsort(descending=True)[:k]
        return [(channel_name(G, int(i)), float(self.delta_s[i])) for i in order
                if self.delta_s[i] != 0]


def global_direction(relevance: Relevance, delta_t: torch.Tensor, beta: float = 0.1,
                     max_channels: int | None = None) -> GlobalDirection:
    """Δs for the text direction ``delta_t: (D,)`` (unit) at threshold ``beta`` in [0, 1);
    ``max_channels``: keep at most that many, those with the largest |Δi_c · Δt| (None or
    0: StyleCLIP's β alone).

    β's scale is CLIP's: with a lower-dimensional embedding whose channel effects share a
    few directions (the bundled face model: thousands of channels above β = 0.2) β alone
    moves too many channels and breaks the face; the ranking stays prompt-specific, so a
    channel budget keeps the strongest. Raises ValueError when β removes every channel (the
    message gives the largest score)."""
    if delta_t.shape != (relevance.embed_dim,):
        raise ValueError(f"delta_t must be ({relevance.embed_dim},), got {tuple(delta_t.shape)}")
    scores = relevance.delta_i @ delta_t.float().cpu()
    kept = torch.where(scores.abs() >= beta, scores, torch.zeros_like(scores))
    if max_channels and int((kept != 0).sum()) > max_channels:
        kept[kept.abs().argsort(descending=True)[max_channels:]] = 0
    top = kept.abs().max()
    if top == 0:
        raise ValueError(f"β = {beta:.3f} removes every channel (the largest relevance to this "
                         f"prompt is {scores.abs().max():.3f}); lower β")
    return GlobalDirection(kept / top, scores, beta)


def apply_global(G: StyleGenerator, styles: Styles, direction: GlobalDirection,
                 relevance: Relevance, alpha: float) -> Styles:
    """``styles`` (S dict, batch N) moved by ``alpha · Δs ⊙ σ``; α in σ units (StyleCLIP
    uses about -10..10)."""
    flat = flatten_styles(G, styles)
    step = (direction.delta_s * relevance.std).to(flat)
    return unflatten_styles(G, flat + alpha * step)
