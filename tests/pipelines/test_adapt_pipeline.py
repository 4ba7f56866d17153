"""AdaptPipeline.compare and .mix on the tiny generator with a planted child."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from stylelab.adaptation.adapted import make_adapted
from stylelab.aligned import NotAlignedError
from stylelab.pipelines.adapt import AdaptPipeline


@pytest.fixture(scope="module")
def child(tiny):
    tuned = copy.deepcopy(tiny)
    with torch.no_grad():
        for name in tiny.layer_parameters()[tiny.style_layers[-1].name]:
            dict(tuned.named_parameters())[name].mul_(-1.0)
    return make_adapted(tiny, tuned, method="planted", config={}, name="flip").generator


def arr(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def test_mix_ends_and_middle(tiny, child):
    pipe = AdaptPipeline(tiny)
    w = tiny.sample_w(1, seed=2)
    parent, adapted = (arr(x[0]) for x in pipe.compare(child, [0], psi=1.0))
    w0 = tiny.sample_w(1, seed=0, truncation_psi=1.0)
    assert np.abs(arr(pipe.mix(child, w0, cut=0)) - adapted).mean() < 1
    assert np.abs(arr(pipe.mix(child, w0, cut=tiny.num_ws)) - parent).mean() < 1
    assert np.abs(arr(pipe.mix(child, w, shape_from="child", cut=tiny.num_ws))
                  - arr(pipe.mix(child, w, cut=0))).mean() < 1  # both: the child entirely


def test_mix_refuses_strangers_and_bad_options(tiny, child):
    pipe = AdaptPipeline(tiny)
    w = tiny.sample_w(1, seed=2)
    stranger = copy.deepcopy(child)
    stranger.parent_digest = "0" * 40
    with pytest.raises(NotAlignedError, match="not fine-tuned from these"):
        pipe.mix(stranger, w)
    with pytest.raises(ValueError, match="shape_from"):
        pipe.mix(child, w, shape_from="both")
