"""The adaptation losses as pure functions: values with known answers."""

from __future__ import annotations

import torch

from stylelab.adaptation.losses import directional_loss, reach_loss


def test_reach_is_scale_aware_where_the_directional_loss_is_not():
    d = torch.tensor([2.0, 0.0, 0.0])
    source = torch.randn(4, 3)
    for scale in (0.01, 0.5, 1.0, 3.0):
        target = source + scale * d
        assert float(directional_loss(target, source, d)) < 1e-6  # same for every scale
        assert abs(float(reach_loss(target, source, d)) - (1 - scale) ** 2) < 1e-5
    assert abs(float(reach_loss(source, source, d)) - 1.0) < 1e-6  # no move: 1


def test_reach_counts_only_the_component_along_the_direction():
    d = torch.tensor([1.0, 0.0])
    source = torch.zeros(2, 2)
    sideways = torch.tensor([[1.0, 5.0], [1.0, -5.0]])
    assert float(reach_loss(sideways, source, d)) < 1e-6
    assert float(directional_loss(sideways, source, d)) > 0.5  # the cosine sees it
    per_face = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # one face moved, one did not
    assert abs(float(reach_loss(per_face, source, d)) - 0.5) < 1e-6


def test_directional_floor_bounds_the_gradient_where_nothing_moved_yet():
    d = torch.tensor([1.0, 0.0, 0.0])
    source = torch.randn(2, 3)
    grads = {}
    for floor in (0.0, 0.1):
        target = source.clone().requires_grad_(True)  # the child is still the parent
        directional_loss(target, source, d, floor).backward()
        grads[floor] = target.grad
    assert float(grads[0.0].norm()) > 1e6  # the cosine's 1 / |Δ| at Δ = 0
    assert torch.allclose(grads[0.1], -d.expand(2, 3) / (2 * 0.1))  # a pull along d
    small = source + torch.tensor([0.02, 0.03, 0.0])  # moved less than the floor: linear
    assert abs(float(directional_loss(small, source, d, 0.1)) - (1 - 0.02 / 0.1)) < 1e-6
    far = source + torch.tensor([1.0, 1.0, 0.0])  # beyond it: the plain cosine
    assert abs(float(directional_loss(far, source, d, 0.1))
               - float(directional_loss(far, source, d))) < 1e-6
