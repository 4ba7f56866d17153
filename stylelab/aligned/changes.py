"""What fine-tuning changes (StyleAlign's first analysis), per style layer of an aligned pair.

StyleAlign finds that a child fine-tuned to a *near* domain differs from its parent mostly in
the synthesis convolutions, while a *far* domain changes the style (StyleSpace) affines too.
:func:`weight_changes` gives the relative weight change of each layer's convolutions and of
its style affine; :func:`style_changes` measures the change of the StyleSpace codes directly,
``|s_child - s_parent|`` per layer over sampled latents (zero when the affines were frozen).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models.base import StyleGenerator, module_key
from .pair import check_aligned


@dataclass(frozen=True)
class LayerChange:
    """One style layer: ``conv`` and ``affine`` are ``||θ_child - θ_parent|| / ||θ_parent||``
    over its synthesis parameters and over its style affine (NaN when it has none)."""

    layer: str
    w_index: int
    conv: float
    affine: float


def _relative(parent: dict, child: dict, names) -> float:
    names = list(names)
    if not names:
        return float("nan")
    num = sum(float((child[n] - parent[n]).double().pow(2).sum()) for n in names)
    den = sum(float(parent[n].double().pow(2).sum()) for n in names)
    return (num / den) ** 0.5 if den > 0 else float("nan")


@torch.no_grad()
def weight_changes(parent: StyleGenerator, child: StyleGenerator) -> list[LayerChange]:
    """Relative weight change per style layer (in layer order) of an aligned pair."""
    parent, child = check_aligned(parent, child)
    p, c = dict(parent.named_parameters()), dict(child.named_parameters())
    groups = parent.layer_parameters()
    out = []
    for layer in parent.style_layers:
        key = module_key(layer.name)
        out.append(LayerChange(layer.name, layer.w_index, _relative(p, c, groups[layer.name]),
                               _relative(p, c, [f"affines.{key}.weight",
                                                f"affines.{key}.bias"])))
    return out


def total_change(changes: list[LayerChange], kind: str = "conv") -> float:
    """Mean over layers (that have such weights) of the ``kind`` ("conv"/"affine") change."""
    values = [getattr(ch, kind) for ch in changes]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


@torch.no_grad()
def style_changes(parent: StyleGenerator, child: StyleGenerator, n: int = 1000, *,
                  seed: int = 0, truncation_psi: float = 1.0, batch: int = 250
                  ) -> dict[str, dict[str, float]]:
    """``{layer: {"mean", "p50", "p95", "relative"}}``: statistics of ``|s_child - s_parent|``
    over the channels of each style layer and ``n`` seeded latents; "relative" is the mean
    change over the mean spread (std over latents) of the parent's channels."""
    parent, child = check_aligned(parent, child)
    if n < 2:
        raise ValueError(f"n must be at least 2 latents, got {n}")
    diffs: dict[str, list[torch.Tensor]] = {s.name: [] for s in parent.style_layers}
    values: dict[str, list[torch.Tensor]] = {s.name: [] for s in parent.style_layers}
    w_all = parent.sample_w(n, seed=seed, truncation_psi=truncation_psi)
    for start in range(0, n, batch):
        w = w_all[start:start + batch]
        sp, sc = parent.w_to_s(w), child.w_to_s(w.to(child.device))
        for name in diffs:
            diffs[name].append((sc[name].cpu() - sp[name].cpu()).abs())
            values[name].append(sp[name].cpu())
    out = {}
    for name in diffs:
        d = torch.cat(diffs[name]).flatten().numpy()
        spread = float(torch.cat(values[name]).std(0).mean())
        out[name] = {"mean": float(d.mean()), "p50": float(np.percentile(d, 50)),
                     "p95": float(np.percentile(d, 95)),
                     "relative": float(d.mean()) / max(spread, 1e-12)}
    return out
