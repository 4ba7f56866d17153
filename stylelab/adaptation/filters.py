"""Image filters that define target domains with a known right answer.

No public style datasets are reachable offline, so the adaptation benchmark builds domains
from filters: the reference is ``f(G_s(w_ref))`` and a perfect child satisfies
``G_t(w) = f(G_s(w))`` for every ``w``. The filters run from mild to far:

* ``sepia``: a colour matrix (a global colour change, structure untouched);
* ``cartoon``: smoothing, colours posterised to a few levels, dark outlines on edges;
* ``sketch``: a pencil sketch, the grey image colour-dodged by its blurred inverse;
* ``oil``: a Kuwahara filter (each pixel takes the mean of its least varied quadrant);
* ``canvas``: a woven-canvas texture with a warm cast (texture without geometry).

Every filter maps ``(N, 3, H, W)`` images in [-1, 1] to the same shape and range, is
deterministic and differentiable almost everywhere (posterising is not), and is scale
aware: radii are fractions of the image side, so a 256 px and a 1024 px face look alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Filter = Callable[[torch.Tensor], torch.Tensor]
SEPIA = torch.tensor([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
LUMA = torch.tensor([0.299, 0.587, 0.114])


def _unit(x: torch.Tensor) -> torch.Tensor:
    return (x.float() + 1) / 2


def _signed(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 1) * 2 - 1


def gray(x01: torch.Tensor) -> torch.Tensor:
    """``(N, 3, H, W)`` in [0, 1] -> ``(N, 1, H, W)`` luma."""
    return torch.einsum("nchw,c->nhw", x01, LUMA.to(x01)).unsqueeze(1)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding; ``sigma`` in pixels."""
    radius = max(1, int(3 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    x = F.pad(x, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def sobel_magnitude(g: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` -> gradient magnitude, same shape."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=g.dtype, device=g.device)
    k = torch.stack([kx, kx.T]).unsqueeze(1)
    d = F.conv2d(F.pad(g, (1, 1, 1, 1), mode="replicate"), k)
    return d.square().sum(1, keepdim=True).add(1e-12).sqrt()


def sepia(x: torch.Tensor) -> torch.Tensor:
    """The classic sepia colour matrix."""
    return _signed(torch.einsum("nchw,dc->ndhw", _unit(x), SEPIA.to(x.device)))


def cartoon(x: torch.Tensor, levels: int = 5, edge: float = 0.22) -> torch.Tensor:
    """Blur (sigma = side/170), posterise each channel to ``levels`` values, black outlines
    where the blurred luma's Sobel gradient exceeds ``edge``."""
    x01 = _unit(x)
    smooth = gaussian_blur(x01, max(0.8, x.shape[-1] / 170))
    poster = torch.round(smooth * (levels - 1)) / (levels - 1)
    lines = (sobel_magnitude(gray(smooth)) > edge).to(x01.dtype)
    return _signed(poster * (1 - lines))


def sketch(x: torch.Tensor) -> torch.Tensor:
    """Pencil sketch: grey / (1 - blur(1 - grey)) (colour dodge), blur sigma = side/50."""
    g = gray(_unit(x))
    blurred = gaussian_blur(1 - g, max(1.0, x.shape[-1] / 50))
    dodge = (g / (1 - blurred).clamp_min(1e-3)).clamp(0, 1)
    return _signed(dodge.expand(-1, 3, -1, -1))


def oil(x: torch.Tensor, radius: int | None = None) -> torch.Tensor:
    """Kuwahara filter: the mean of the quadrant (of side ``radius + 1``, default side/48)
    with the least luma variance around each pixel."""
    x01 = _unit(x)
    r = radius or max(2, x.shape[-1] // 48)
    k = r + 1
    g = gray(x01)
    padded = F.pad(torch.cat([x01, g, g * g], 1), (r, r, r, r), mode="reflect")
    stats = F.avg_pool2d(padded, k, stride=1)  # window means, (N, 5, H + r, W + r)
    h, w = x.shape[-2:]
    quadrants = [stats[..., dy:dy + h, dx:dx + w] for dy in (0, r) for dx in (0, r)]
    q = torch.stack(quadrants, 1)  # (N, 4, 5, H, W)
    variance = q[:, :, 4] - q[:, :, 3].square()
    best = variance.argmin(1, keepdim=True)  # (N, 1, H, W)
    colour = q[:, :, :3].gather(1, best.unsqueeze(2).expand(-1, 1, 3, -1, -1)).squeeze(1)
    return _signed(colour)


def canvas(x: torch.Tensor, period: float | None = None, depth: float = 0.18) -> torch.Tensor:
    """A woven-canvas texture (period side/40 px, relief ``depth``) with a warm cast."""
    x01 = _unit(x)
    h, w = x.shape[-2:]
    p = period or max(3.0, w / 40)
    yy = torch.arange(h, dtype=x01.dtype, device=x.device).view(h, 1)
    xx = torch.arange(w, dtype=x01.dtype, device=x.device).view(1, w)
    weave = torch.sin(2 * torch.pi * xx / p) * torch.sin(2 * torch.pi * yy / p)
    warm = torch.tensor([1.05, 0.97, 0.82], dtype=x01.dtype, device=x.device).view(1, 3, 1, 1)
    return _signed(x01 * warm * (1 + depth * weave))


def chroma_stats(x: torch.Tensor) -> torch.Tensor:
    """``(N, 4)``: mean and standard deviation of the YUV chroma (U, V) of images in [-1, 1],
    brightness left out: how a style colours an image, whatever its layout."""
    x01 = _unit(x.clamp(-1, 1))
    r, g, b = x01[:, 0], x01[:, 1], x01[:, 2]
    u = -0.147 * r - 0.289 * g + 0.436 * b
    v = 0.615 * r - 0.515 * g - 0.100 * b
    return torch.stack([u.mean((1, 2)), v.mean((1, 2)), u.std((1, 2)), v.std((1, 2))], 1)


def chroma_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(N,)`` L1 between the :func:`chroma_stats` of paired images."""
    return (chroma_stats(a) - chroma_stats(b)).abs().mean(1)


FILTERS: dict[str, Filter] = {"sepia": sepia, "cartoon": cartoon, "sketch": sketch,
                              "oil": oil, "canvas": canvas}


def list_filters() -> list[str]:
    """Names of the known-answer filters, mild to far."""
    return list(FILTERS)


def get_filter(name: str) -> Filter:
    """The filter ``name``; ValueError listing the valid names otherwise."""
    if name not in FILTERS:
        raise ValueError(f"unknown filter {name!r}; valid filters: {', '.join(FILTERS)}")
    return FILTERS[name]


def apply_filter(name: str, images: torch.Tensor) -> torch.Tensor:
    """``f(images)`` for filter ``name``: ``(N, 3, H, W)`` in [-1, 1] -> same."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
    return get_filter(name)(images)
