"""Pure functions over latent tensors: seeds, style mixing, interpolation.

Seed ``s`` means ``z = numpy.random.RandomState(s).randn(1, z_dim)``, the
StyleGAN convention, so seeds match NVIDIA's and other tools' images.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence

import numpy as np
import torch

MAX_SEED = 2**32 - 1
MAX_SEEDS = 1024
SEED_RULE = f"seeds are whole numbers in 0..{MAX_SEED}, with ranges like '0-7' or '1,5,9-11'"


def _shown(text: str, limit: int = 24) -> str:
    """``text`` quoted for a message, shortened when long."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _whole(seed: object) -> int:
    """An int-like seed (int, numpy integer, 0-d integer tensor) as int; 2.7 is refused."""
    try:
        return operator.index(seed)
    except TypeError:
        raise ValueError(f"bad seed {_shown(repr(seed))}: {SEED_RULE}") from None


def parse_seeds(text: str | int | Sequence[int], max_count: int = MAX_SEEDS) -> list[int]:
    """Parse ``"0-7"``, ``"1,5,9-11"`` or an int/list into a list of seeds in [0, 2**32).

    Raises ValueError with a usage hint for bad formats, out-of-range or too many seeds.
    """
    if isinstance(text, (int, np.integer)):
        seeds = [int(text)]
    elif isinstance(text, str):
        seeds = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            m = re.fullmatch(r"([0-9]+)(?:\s*-\s*([0-9]+))?", part)
            if not m:
                raise ValueError(f"bad seed {_shown(part)}: {SEED_RULE}")
            for number in filter(None, m.groups()):  # checked before int(): no digit limit
                if len(number.lstrip("0")) > len(str(MAX_SEED)):
                    raise ValueError(f"seed {_shown(number)} is too large: {SEED_RULE}")
            lo, hi = (int(n.lstrip("0") or "0") for n in (m[1], m[2] or m[1]))
            if hi < lo:
                raise ValueError(f"bad seed range {_shown(part)}: the end is below the start")
            if hi - lo + 1 > max_count:
                raise ValueError(f"too many seeds in {_shown(part)}: at most {max_count} at once")
            seeds.extend(range(lo, hi + 1))
    else:
        seeds = [_whole(s) for s in text]
    if not seeds:
        raise ValueError("no seeds given: use e.g. '0-7' or '42'")
    if len(seeds) > max_count:
        raise ValueError(f"{len(seeds)} seeds: at most {max_count} at once")
    bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if bad:
        raise ValueError(f"seed {bad[0]} is out of range: seeds must be in [0, {MAX_SEED}]")
    return seeds


def z_from_seeds(seeds: Sequence[int], z_dim: int = 512) -> torch.Tensor:
    """``(len(seeds), z_dim)`` float32 normal latents, StyleGAN seed convention."""
    return torch.from_numpy(
        np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in parse_seeds(seeds)])
    ).float()


def check_truncation(psi: float) -> float:
    psi = float(psi)
    if not 0.0 <= psi <= 2.0:
        raise ValueError(f"truncation {psi} is outside [0, 2]; 0.7 is the usual choice")
    return psi


def style_mix(w_a: torch.Tensor, w_b: torch.Tensor, layers: range | Sequence[int]) -> torch.Tensor:
    """Copy W+ entries ``layers`` of ``w_b`` into ``w_a``.

    ``w_a, w_b: (N, num_ws, w_dim)`` (or ``w_b`` with N=1, broadcast). Returns a new tensor.
    """
    if w_a.ndim != 3 or w_b.ndim != 3:
        raise ValueError("style_mix needs W+ latents (N, num_ws, w_dim); use G.to_wplus(w)")
    idx = list(layers)
    if any(not 0 <= i < w_a.shape[1] for i in idx):
        raise ValueError(f"layer range {idx[0]}..{idx[-1]} is outside 0..{w_a.shape[1] - 1}")
    out = w_a.clone()
    out[:, idx] = w_b[:, idx].expand(out.shape[0], -1, -1)
    return out


def lerp(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` points from ``a`` to ``b`` (inclusive) along a straight line.

    ``a, b``: (1, ...) latents (W or W+). Returns (steps, ...).
    """
    if steps < 2:
        raise ValueError("interpolation needs at least 2 steps")
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)
    t = t.view(-1, *([1] * (a.ndim - 1)))
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, steps: int, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation (for Z) along the last dimension. ``a, b: (1, D)`` -> (steps, D)."""
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device).view(-1, 1)
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + eps, 1 - eps))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def interpolate(G, w0: torch.Tensor, w1: torch.Tensor, steps: int, space: str = "w",
                layers: range | Sequence[int] | None = None) -> torch.Tensor:
    """Latents between two codes, in W (``space="w"``) or W+ (``space="w+"``).

    ``w0, w1``: (1, w_dim) or (1, num_ws, w_dim). W returns (steps, w_dim). W+
    returns (steps, num_ws, w_dim); with ``layers``, only those W+ entries move
    from ``w0`` to ``w1`` (e.g. coarse layers only: pose and shape change, colour stays).
    """
    if space == "w":
        if w0.ndim == 3:
            w0, w1 = w0[:, 0], w1[:, 0]
        return lerp(w0, w1, steps)
    if space != "w+":
        raise ValueError(f"space must be 'w' or 'w+', got {space!r}")
    a, b = G.to_wplus(w0), G.to_wplus(w1)
    if layers is not None:
        b = style_mix(a, b, layers)
    return lerp(a, b, steps)
