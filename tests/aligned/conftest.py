"""Aligned pairs on the tiny generator: children with known, planted weight changes."""

from __future__ import annotations

import copy

import pytest
import torch

from stylelab.adaptation.adapted import make_adapted
from stylelab.models.base import module_key


def planted_child(parent, layers: set[str], *, affines: bool = False, scale: float = 0.5,
                  name: str = "planted"):
    """A child whose convolutions (and style affines with ``affines``) of ``layers`` are
    changed by a relative ``scale``."""
    tuned = copy.deepcopy(parent)
    params = dict(tuned.named_parameters())
    groups = parent.layer_parameters()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for layer in layers:
            names = list(groups[layer])
            if affines:
                names += [f"affines.{module_key(layer)}.weight"]
            for n in names:
                p = params[n]
                p.add_(torch.randn(p.shape, generator=gen) * p.abs().mean().clamp(min=1e-3)
                       * scale)
    return make_adapted(parent, tuned, method="planted", config={}, name=name)


@pytest.fixture(scope="session")
def plant():
    """The :func:`planted_child` factory (for tests that need another child)."""
    return planted_child


@pytest.fixture(scope="module")
def fine_child(tiny):
    """Only the convolutions of the last two style layers changed."""
    names = {layer.name for layer in tiny.style_layers[-2:]}
    return planted_child(tiny, names, name="fine")


@pytest.fixture(scope="module")
def affine_child(tiny):
    """Convolutions and style affines of the first style layer changed."""
    return planted_child(tiny, {tiny.style_layers[0].name}, affines=True, name="affine")
