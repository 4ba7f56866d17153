"""Image and latent reconstruction metrics, differentiable, in plain PyTorch.

Images are float tensors ``(N, 3, H, W)`` with values in [-1, 1] (data range 2);
every image metric returns one value per image, shape ``(N,)``.

* :func:`psnr`: peak signal-to-noise ratio in dB (``inf`` for identical images).
* :func:`ssim`: structural similarity (Wang et al. 2004): Gaussian window 11,
  sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, "valid" filtering (no padding) as in
  the authors' reference code; averaged over channels and pixels. In [-1, 1].
* :func:`ms_ssim`: multi-scale SSIM (Wang et al. 2003), 5 scales with the
  standard weights. Images too small for 5 scales use as many scales as fit
  (the window must fit the coarsest scale) with the first weights renormalised
  to sum 1; images smaller than the window use a window of the image's size.
* :func:`latent_error`: mean L2 distance per W entry between two latents.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DATA_RANGE = 2.0
K1, K2 = 0.01, 0.03
WINDOW, SIGMA = 11, 1.5
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"images must both be (N, C, H, W), got {tuple(x.shape)} and {tuple(y.shape)}")


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """PSNR in dB, ``10 log10(range**2 / MSE)``: ``(N, C, H, W)`` x 2 -> ``(N,)``; inf when equal."""
    _check_pair(x, y)
    mse = (x.float() - y.float()).square().flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> torch.Tensor:
    """1-D Gaussian ``(size,)`` summing to 1."""
    t = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-t.square() / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filter of every channel: ``(N, C, H, W) -> (N, C, H-k+1, W-k+1)``."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)


def _ssim_terms(x: torch.Tensor, y: torch.Tensor, data_range: float,
                window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image mean SSIM and mean contrast-structure term ``cs``, each ``(N,)``."""
    size = min(window, x.shape[-2], x.shape[-1])
    g = gaussian_window(size, SIGMA * size / WINDOW).to(x)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    # one filtering call for the five local moments (fewer, larger convolutions are faster)
    mu_x, mu_y, xx, yy, xy = _blur(torch.cat([x, y, x * x, y * y, x * y], 1), g).chunk(5, 1)
    var_x, var_y = xx - mu_x.square(), yy - mu_y.square()
    cs = (2 * (xy - mu_x * mu_y) + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x.square() + mu_y.square() + c1)
    return (luminance * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = DATA_RANGE,
         window: int = WINDOW) -> torch.Tensor:
    """SSIM ``(N, C, H, W)`` x 2 -> ``(N,)`` in [-1, 1] (1 iff equal). See the module docstring."""
    _check_pair(x, y)
    return _ssim_terms(x.float(), y.float(), data_range, window)[0]


def ms_ssim_scales(size: int, window: int = WINDOW, max_scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """How many 2x scales of a ``size`` px image still fit the window (at least 1)."""
    scales = 1
    while scales < max_scales and -(-size // 2**scales) >= window:  # ceil: pooling pads
        scales += 1
    return scales


def ssim_pyramid(x: torch.Tensor, y: torch.Tensor, scales: int, data_range: float = DATA_RANGE,
                 window: int = WINDOW) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(ssim_j, cs_j)``, each ``(N,)``, for ``j < scales`` 2x average-pooled (ceil mode)
    levels of ``x, y: (N, C, H, W)``, starting at full size."""
    x, y = x.float(), y.float()
    levels = []
    for j in range(scales):
        levels.append(_ssim_terms(x, y, data_range, window))
        if j < scales - 1:
            x, y = F.avg_pool2d(x, 2, ceil_mode=True), F.avg_pool2d(y, 2, ceil_mode=True)
    return levels


def combine_ms_ssim(levels: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """``prod_j cs_j ** w_j * ssim_M ** w_M`` over the ``M = len(levels)`` levels, with the
    first ``M`` standard weights renormalised: ``(N,)`` in [0, 1]."""
    weights = torch.tensor(MS_SSIM_WEIGHTS[:len(levels)], device=levels[0][0].device)
    weights = weights / weights.sum()
    factors = [cs for _, cs in levels[:-1]] + [levels[-1][0]]
    values = torch.stack(factors, 1).clamp_min(1e-6)  # (N, M)
    return torch.exp((values.log() * weights).sum(1))


def ms_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = DATA_RANGE,
            window: int = WINDOW) -> torch.Tensor:
    """Multi-scale SSIM ``(N, C, H, W)`` x 2 -> ``(N,)`` in [0, 1] (1 iff equal).

    ``prod_j cs_j ** w_j * ssim_M ** w_M`` over ``M`` scales (2x average pooling
    between scales; ``M = 5`` from 161 px up, fewer below, see the module
    docstring). Negative per-scale terms are clamped to a tiny positive value so
    the fractional powers stay defined (as ``pytorch_msssim`` does with a ReLU).
    """
    _check_pair(x, y)
    scales = ms_ssim_scales(min(x.shape[-2:]), window)
    return combine_ms_ssim(ssim_pyramid(x, y, scales, data_range, window))


def latent_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean L2 distance per W entry: ``(N, w_dim)`` or ``(N, num_ws, w_dim)`` x 2 -> ``(N,)``.

    A W code compared with a W+ code is broadcast to every W+ entry.
    """
    a, b = (t.float() if t.ndim == 3 else t.float().unsqueeze(1) for t in (a, b))
    if a.shape[0] != b.shape[0] or a.shape[-1] != b.shape[-1]:
        raise ValueError(f"latents do not match: {tuple(a.shape)} vs {tuple(b.shape)}")
    return (a - b).norm(dim=-1).mean(1)


def summary(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """``{"psnr", "ssim", "ms_ssim"}`` of one pair of images ``(1, 3, H, W)``, as floats."""
    with torch.no_grad():
        return {"psnr": float(psnr(x, y).mean()), "ssim": float(ssim(x, y).mean()),
                "ms_ssim": float(ms_ssim(x, y).mean())}


__all__ = ["gaussian_window", "latent_error", "ms_ssim", "ms_ssim_scales", "psnr", "ssim",
           "summary"]
