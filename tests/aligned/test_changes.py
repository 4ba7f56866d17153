"""weight_changes / style_changes find exactly the planted changes; other parents refused."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from stylelab.aligned import (
    NotAlignedError,
    check_aligned,
    lineage,
    style_changes,
    total_change,
    weight_changes,
)


def test_weight_changes_locate_planted_layers(tiny, fine_child):
    changes = weight_changes(tiny, fine_child.generator)
    assert [c.layer for c in changes] == [s.name for s in tiny.style_layers]
    changed = {c.layer for c in changes if c.conv > 1e-4}
    assert changed == {s.name for s in tiny.style_layers[-2:]}
    assert all(c.affine == 0 for c in changes)  # affines frozen
    planted = [c.conv for c in changes if c.layer in changed]
    assert all(0.2 < v < 1.5 for v in planted)   # relative scale 0.5 of mean |w|
    assert total_change(changes, "affine") == 0


def test_style_changes_zero_without_affines_and_positive_with(tiny, fine_child, affine_child):
    frozen = style_changes(tiny, fine_child.generator, n=32)
    assert all(v["mean"] == 0 and v["relative"] == 0 for v in frozen.values())
    moved = style_changes(tiny, affine_child.generator, n=32)
    first = tiny.style_layers[0].name
    assert moved[first]["relative"] > 0.05 and moved[first]["p95"] >= moved[first]["p50"]
    assert all(v["mean"] == 0 for k, v in moved.items() if k != first)
    ch = {c.layer: c for c in weight_changes(tiny, affine_child.generator)}
    assert ch[first].affine > 0.1
    assert math.isnan(total_change([], "conv"))


def test_child_of_other_weights_is_refused(tiny, fine_child, plant):
    other = copy.deepcopy(tiny)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    other.model_name = tiny.model_name
    with pytest.raises(NotAlignedError, match="parent digests differ"):
        weight_changes(other, fine_child.generator)
    with pytest.raises(NotAlignedError, match="different architectures"):
        check_aligned(tiny, _other_arch())
    # two children of one parent are aligned with each other and with it
    sibling = plant(tiny, {tiny.style_layers[1].name}, name="sib")
    assert lineage(sibling) == lineage(fine_child) == lineage(tiny)
    check_aligned(sibling, fine_child)


def test_style_changes_needs_two_latents(tiny, fine_child):
    with pytest.raises(ValueError, match="at least 2"):
        style_changes(tiny, fine_child.generator, n=1)


def _other_arch():
    from stylelab import load_generator

    return load_generator("tiny-stylegan2")
