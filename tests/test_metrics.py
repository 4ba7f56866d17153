"""stylelab.metrics against analytic values and a plain numpy SSIM reference."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from stylelab.metrics import (
    gaussian_window,
    latent_error,
    ms_ssim,
    ms_ssim_scales,
    psnr,
    ssim,
    summary,
)


def images(n: int = 2, size: int = 32, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=gen) * 2 - 1


def smooth_images(n: int = 2, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Natural-ish images: upsampled noise, so every scale has structure."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 8, size // 8, generator=gen) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


def numpy_ssim(x: np.ndarray, y: np.ndarray, data_range: float = 2.0) -> float:
    """Textbook SSIM of one (C, H, W) pair: 2-D Gaussian 11x11 / 1.5, 'valid' windows."""
    t = np.arange(11) - 5.0
    g = np.exp(-t**2 / (2 * 1.5**2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    maps = []
    for xc, yc in zip(x.astype(np.float64), y.astype(np.float64)):
        px, py = sliding_window_view(xc, (11, 11)), sliding_window_view(yc, (11, 11))
        mx, my = (px * win).sum((-1, -2)), (py * win).sum((-1, -2))
        vx = (px**2 * win).sum((-1, -2)) - mx**2
        vy = (py**2 * win).sum((-1, -2)) - my**2
        cov = (px * py * win).sum((-1, -2)) - mx * my
        maps.append((2 * mx * my + c1) * (2 * cov + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(maps))


def test_identical_images_are_perfect():
    x = images()
    assert torch.isinf(psnr(x, x)).all()
    torch.testing.assert_close(ssim(x, x), torch.ones(2))
    torch.testing.assert_close(ms_ssim(smooth_images(size=64), smooth_images(size=64)), torch.ones(2))


@pytest.mark.parametrize("shift", [0.1, 0.5, 1.0])
def test_psnr_of_a_shifted_constant_is_analytic(shift):
    x = torch.full((1, 3, 16, 16), -0.5)
    expected = 10 * math.log10(4.0 / shift**2)  # data range 2, MSE = shift**2
    assert psnr(x, x + shift).item() == pytest.approx(expected, abs=1e-4)


def test_ssim_matches_numpy_reference():
    x, y = images(seed=1), images(seed=2)
    y = 0.6 * x + 0.4 * y  # correlated, so SSIM is far from 0
    ours = ssim(x, y)
    for i in range(2):
        assert ours[i].item() == pytest.approx(numpy_ssim(x[i].numpy(), y[i].numpy()), abs=1e-5)


def test_ssim_is_symmetric_and_bounded():
    x, y = images(seed=3), images(seed=4)
    torch.testing.assert_close(ssim(x, y), ssim(y, x))
    anti = 0.5 - 0.3 * x  # same local means as 0.5 + 0.3 x, structure inverted
    for a, b in [(x, y), (x, -x), (x, x * 0.5), (0.5 + 0.3 * x, anti)]:
        s = ssim(a, b)
        assert ((s >= -1) & (s <= 1)).all()
    assert (ssim(0.5 + 0.3 * x, anti) < -0.5).all()


def test_ms_ssim_decreases_with_noise():
    x = smooth_images(n=1, size=128)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=gen)
    values = [ms_ssim(x, x + sigma * noise).item() for sigma in (0.0, 0.05, 0.1, 0.2, 0.4)]
    assert values[0] == pytest.approx(1.0)
    assert all(a > b for a, b in itertools.pairwise(values))
    assert 0 <= values[-1] < 1


def test_ms_ssim_scales_fit_the_image():
    assert [ms_ssim_scales(s) for s in (256, 176, 161, 160, 64, 32, 16, 8)] == [5, 5, 5, 4, 3, 2, 1, 1]
    tiny = images(n=1, size=8)  # smaller than the window: one scale with a smaller window
    assert ms_ssim(tiny, tiny).item() == pytest.approx(1.0)
    assert 0 <= ms_ssim(tiny, images(n=1, size=8, seed=5)).item() < 1


def test_metrics_are_differentiable():
    x = smooth_images(n=1, size=64).requires_grad_(True)
    y = smooth_images(n=1, size=64, seed=1)
    (psnr(x, y) + ssim(x, y) + ms_ssim(x, y)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gaussian_window_sums_to_one():
    g = gaussian_window()
    assert g.shape == (11,) and g.sum().item() == pytest.approx(1.0)
    assert g.argmax().item() == 5


def test_latent_error():
    a = torch.zeros(2, 4, 8)
    b = a.clone()
    b[:, 0, 0] = 3.0  # one entry of four is 3 away
    torch.testing.assert_close(latent_error(a, b), torch.full((2,), 0.75))
    w = torch.zeros(2, 8)
    w[:, 1] = 4.0
    torch.testing.assert_close(latent_error(w, torch.zeros(2, 8)), torch.full((2,), 4.0))
    torch.testing.assert_close(latent_error(w, w.unsqueeze(1).repeat(1, 5, 1)), torch.zeros(2))
    with pytest.raises(ValueError):
        latent_error(torch.zeros(1, 8), torch.zeros(1, 9))


def test_shape_mismatch_is_an_error_and_summary_is_floats():
    with pytest.raises(ValueError):
        psnr(images(size=16), images(size=32))
    out = summary(smooth_images(n=1), smooth_images(n=1, seed=1))
    assert set(out) == {"psnr", "ssim", "ms_ssim"} and all(isinstance(v, float) for v in out.values())
