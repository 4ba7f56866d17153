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


def test_correspondence_to_an_uploaded_exemplar(tiny, tmp_path):
    from stylelab.images import to_pil
    from stylelab.testing.perceptual import tiny_backbone

    pipe = AdaptPipeline(tiny)
    w = tiny.sample_w(1, seed=4)
    with torch.no_grad():
        to_pil(tiny.synthesis(w, size=pipe.size).clamp(-1, 1))[0].save(tmp_path / "ex.png")
    corr, warped = pipe.correspondence(w, tmp_path / "ex.png", backbone=tiny_backbone(),
                                       layer="c2", temperature=0.01)
    side = pipe.size // 4
    assert corr.attention.shape == (1, side * side, side * side)
    assert (corr.attention.argmax(-1) == torch.arange(side * side)).float().mean() > 0.9
    assert warped.size == (pipe.size, pipe.size)


def test_correspondence_exemplar_that_is_not_an_image(tiny, tmp_path):
    from stylelab.faces import NotAnImageError
    from stylelab.testing.perceptual import tiny_backbone

    bad = tmp_path / "exemplar.png"
    bad.write_text("hello")
    with pytest.raises(NotAnImageError):
        AdaptPipeline(tiny).correspondence(tiny.sample_w(1), bad, backbone=tiny_backbone(),
                                           layer="c2")


def test_preserve_colour_reaches_jojo_and_only_jojo(tiny, monkeypatch):
    import stylelab.pipelines.adapt as module

    seen = {}

    def fake_adapt(G, method, *, config, **kwargs):
        seen["config"] = config
        raise RuntimeError("stop here")

    monkeypatch.setattr(module, "adapt", fake_adapt)
    pipe = AdaptPipeline(tiny)
    reference = to_reference(tiny)
    with pytest.raises(RuntimeError, match="stop here"):
        pipe.adapt("jojo", reference=reference, steps=2, preserve_colour=True, align=False)
    assert seen["config"].preserve_colour and seen["config"].steps == 2
    with pytest.raises(RuntimeError, match="stop here"):
        pipe.adapt("jojo", reference=reference, steps=2, align=False)
    assert not seen["config"].preserve_colour
    seen.clear()
    with pytest.raises(ValueError, match="JoJoGAN-style"):
        pipe.adapt("difa", reference=reference, preserve_colour=True, align=False)
    assert not seen  # refused before any work


def to_reference(G):
    from stylelab.images import to_pil

    with torch.no_grad():
        return to_pil(G.synthesis(G.sample_w(1, seed=3), size=64).clamp(-1, 1))[0]
