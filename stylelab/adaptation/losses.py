"""Losses shared by the adaptation methods (pure functions and one small stateful helper).

* :func:`directional_loss`: ``1 - cos(E(G_t(w)) - E(G_s(w)), d)`` for a domain direction ``d``
  (StyleGAN-NADA's text direction, DiFa's reference direction);
* :func:`reach_loss`: how far along ``d`` each image moved against ``|d|``: the scale that the
  cosine of the directional loss ignores (ours, off by default);
* :func:`relaxed_emd`: DiFa's attentive style loss between two token sets (cosine cost,
  nearest neighbour both ways, the larger of the two means);
* :class:`SelectiveConsistency`: DiFa's selective cross-domain consistency: W+ codes of the
  source and adapted images, a sliding window of their mean difference, and an L1 penalty on
  the fraction ``alpha`` of channels that change least (the domain-shared ones);
* :func:`feature_matching`: JoJoGAN's loss, L1 between feature maps of a backbone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Inverter = Callable[[torch.Tensor], torch.Tensor]  # (N, 3, H, W) in [-1, 1] -> (N, L, C) W+


def directional_loss(target_embed: torch.Tensor, source_embed: torch.Tensor,
                     direction: torch.Tensor, floor: float = 0.0) -> torch.Tensor:
    """Mean of ``1 - cos(target - source, direction)``: embeddings ``(N, D)``, ``direction``
    ``(D,)`` or ``(N, D)``. 0 when every image moved exactly along the direction.

    ``floor`` (embedding units): the change's norm in the cosine is ``max(|Δ|, floor)``, so
    while an image has moved less than ``floor`` the loss is ``1 - <Δ, d̂> / floor``, a
    bounded pull along ``d``. Without it the gradient grows as ``1 / |Δ|``: at the first step,
    where the child is still the parent (``Δ = 0``: our generators draw no random noise),
    it was 10^6 times the next steps' (DiFa, mobilestylegan-ffhq), and Adam's second-moment
    estimate, filled by that one step, shrank every later step to almost nothing."""
    delta = target_embed - source_embed
    d = direction.expand_as(delta)
    norm = delta.norm(dim=-1).clamp_min(max(floor, 1e-12)) * d.norm(dim=-1).clamp_min(1e-12)
    return (1 - (delta * d).sum(-1) / norm).mean()


def reach_loss(target_embed: torch.Tensor, source_embed: torch.Tensor,
               direction: torch.Tensor) -> torch.Tensor:
    """Mean of ``(1 - <Δ, d> / |d|²)²`` with ``Δ = target - source`` (``(N, D)``) and ``d``
    (``(D,)``, not normalised): 0 when each image moved along ``d`` exactly as far as the
    reference moved (DiFa's ``d = E(ref) - E(G_s(w_ref))``), 1 when it did not move.

    The directional loss is scale-invariant: with an embedding whose directions are less
    noisy than CLIP's (VGG16 statistics), a tiny change in the right direction already
    satisfies it. This term asks for the reference's distance as well."""
    delta = target_embed - source_embed
    d = direction.expand_as(delta)
    progress = (delta * d).sum(-1) / d.square().sum(-1).clamp_min(1e-12)
    return (1 - progress).square().mean()


def paired_crops(a: torch.Tensor, b: torch.Tensor, n: int, step: int, scale: float = 0.6
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random square crops (side ``scale``..1 of the image, random position, random
    horizontal flip) of each image, the same crops for ``a`` and ``b`` (``(N, 3, H, W)``),
    resized back to ``H``: ``(n * N, 3, H, W)`` each. Seeded by ``step`` (resumable). Losses
    on crops cannot be met by changing a few pixel patterns the embedding happens to see."""
    if n <= 0:
        return a, b
    gen = torch.Generator().manual_seed(7919 * step + 1)
    size = a.shape[-1]
    outs_a, outs_b = [], []
    for _ in range(n):
        side = int(size * (scale + (1 - scale) * float(torch.rand((), generator=gen))))
        y, x = (int(torch.randint(0, size - side + 1, (), generator=gen)) for _ in range(2))
        flip = bool(torch.rand((), generator=gen) < 0.5)
        for src, out in ((a, outs_a), (b, outs_b)):
            crop = src[..., y:y + side, x:x + side]
            crop = crop.flip(-1) if flip else crop
            out.append(F.interpolate(crop, size=(size, size), mode="bilinear",
                                     align_corners=False))
    return torch.cat(outs_a), torch.cat(outs_b)


def relaxed_emd(tokens: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Relaxed earth mover's distance, mean over the batch: ``tokens (N, T, C)`` and
    ``reference (1 or N, T', C)``, both unit-norm. Cost ``1 - cos``; each token takes its
    nearest reference token and each reference token its nearest token; the larger mean."""
    cost = 1 - tokens @ reference.expand(len(tokens), -1, -1).transpose(1, 2)  # (N, T, T')
    forward = cost.min(dim=2).values.mean(dim=1)
    backward = cost.min(dim=1).values.mean(dim=1)
    return torch.maximum(forward, backward).mean()


def feature_matching(backbone, layers: Sequence[str], images: torch.Tensor,
                     target_features: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over ``layers`` of the mean L1 between the backbone maps of ``images`` and the
    precomputed ``target_features`` (``(1 or N, C, H, W)`` each)."""
    maps = backbone.features(images.clamp(-1, 1), layers)
    return sum(F.l1_loss(maps[n], target_features[n].expand_as(maps[n])) for n in layers)


class SelectiveConsistency:
    """DiFa's selective cross-domain consistency.

    Each call inverts the source images ``G_s(w)`` and the adapted ``G_t(w)`` into W+ (the
    first ``layers`` entries), records ``mean(target code) - mean(source code)`` (detached) in a
    window of the last ``window`` steps, and once the window is full returns the L1 distance
    between source and target codes on the ``alpha`` fraction of (layer, channel) entries
    whose windowed mean change is smallest, times a weight ramped linearly over ``ramp`` steps.
    Before that it returns 0 (the codes are still recorded).
    """

    def __init__(self, inverter: Inverter, *, layers: int = 7, alpha: float = 0.7,
                 window: int = 50, ramp: int = 50):
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        self.inverter, self.layers, self.alpha, self.ramp = inverter, layers, alpha, ramp
        self.history: deque[torch.Tensor] = deque(maxlen=window)
        self.active_steps = 0

    def shared_mask(self) -> torch.Tensor:
        """``(layers, C)`` bool: the entries treated as domain-shared."""
        mean_delta = torch.stack(list(self.history)).mean(0).abs()
        k = max(1, int(self.alpha * mean_delta.numel()))
        threshold = mean_delta.flatten().kthvalue(k).values
        return mean_delta <= threshold

    def __call__(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            src = self.inverter(source)[:, : self.layers]
        tgt = self.inverter(target)[:, : self.layers]
        self.history.append((tgt.detach().mean(0) - src.mean(0)).cpu())
        if len(self.history) < self.history.maxlen:
            return tgt.new_zeros(())
        self.active_steps += 1
        weight = min(1.0, self.active_steps / max(self.ramp, 1))
        mask = self.shared_mask().to(tgt.device)
        return weight * (tgt - src).abs()[:, mask].mean()
