"""How local a local edit is: change inside vs outside the mask, and seam visibility."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _gray(images: torch.Tensor) -> torch.Tensor:
    return images.float().mean(1, keepdim=True)


def local_change(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor
                 ) -> dict[str, float]:
    """Mean absolute pixel change (on [-1, 1]) inside (mask > 0.5) and outside (mask < 0.05)
    and their ratio (inside / outside; large = local). Images ``(N, 3, S, S)``, mask
    ``(S, S)``."""
    diff = (after.float() - before.float()).abs().mean(1)  # (N, S, S)
    inside, outside = mask > 0.5, mask < 0.05
    if not inside.any() or not outside.any():
        raise ValueError("the mask needs both an inside and an outside")
    a, b = float(diff[:, inside].mean()), float(diff[:, outside].mean())
    return {"inside": a, "outside": b, "ratio": a / max(b, 1e-6)}


def gradient_magnitude(images: torch.Tensor) -> torch.Tensor:
    """``(N, 3, S, S)`` -> ``(N, S, S)`` Sobel gradient magnitude of the grey image."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8
    k = torch.stack([kx, kx.T])[:, None].to(images.device)
    g = F.conv2d(F.pad(_gray(images), (1, 1, 1, 1), mode="replicate"), k)
    return g.square().sum(1).sqrt()


def seam(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor) -> float:
    """Edge energy on the mask's boundary band (0.2 < mask < 0.8) after the edit, over the
    same band before it: 1.0 = no new edges along the seam; > 1 = a visible seam."""
    band = (mask > 0.2) & (mask < 0.8)
    if int(band.sum()) < 4:
        raise ValueError("the mask has no soft boundary to measure (feather it)")
    ga, gb = gradient_magnitude(after)[:, band], gradient_magnitude(before)[:, band]
    return float(ga.mean() / gb.mean().clamp_min(1e-6))
