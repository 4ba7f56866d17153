"""Helpers shared by the StyleGAN2 tests (imported by name: pytest puts this folder on sys.path)."""

import torch

from stylelab.models.stylegan2 import PRESETS, StyleGAN2

TINY = PRESETS["tiny-32"]  # 32px, channels 32/32/32/16, w_dim 32


def randomize(G: StyleGAN2, seed: int = 0) -> StyleGAN2:
    """Random values for the zero-initialised biases and noise strengths, and for w_avg."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in G.named_parameters():
            synthesis = not name.startswith(("affines", "mapping"))
            if synthesis and name.endswith(("noise_strength", ".bias")):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        G.w_avg.copy_(torch.randn(G.w_dim, generator=gen))
    return G.eval()
