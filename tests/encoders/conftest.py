"""Held-out generated faces for the shipped-encoder tests."""

from __future__ import annotations

import pytest
import torch

from stylelab.latents import z_from_seeds

HELD_OUT = 10_000_000  # training seeds stay below (training/train_alignment.py)


@pytest.fixture(scope="module")
def held_out(mobile) -> tuple[torch.Tensor, torch.Tensor]:
    """(w (4, 512) at psi 0.7, their faces (4, 3, 256, 256) in [-1, 1]) from held-out seeds."""
    with torch.no_grad():
        w = mobile.map(z_from_seeds(list(range(HELD_OUT, HELD_OUT + 4)), mobile.z_dim), 0.7)
        return w, mobile.synthesis(w, size=256).clamp(-1, 1)
