"""Adaptation of the real generator to a known-answer domain: the child must move towards
the right answer f(G_s(w)) on faces it never saw (JoJoGAN-style, sepia; README
"Domain adaptation" has the full benchmark)."""

from __future__ import annotations

import pytest
import torch

from stylelab.adaptation import JoJoConfig, adapt, apply_filter
from stylelab.adaptation.filters import chroma_distance

pytestmark = [pytest.mark.weights, pytest.mark.slow]


def test_jojo_learns_sepia_and_keeps_the_faces(mobile, detector):
    import numpy as np

    from stylelab.images import to_pil

    w_ref = mobile.sample_w(1, seed=1000, truncation_psi=0.7)
    with torch.no_grad():
        reference = apply_filter("sepia", mobile.synthesis(w_ref, size=256).clamp(-1, 1))
    result = adapt(mobile, "jojo", reference=reference, latent=mobile.to_wplus(w_ref),
                   config=JoJoConfig(steps=30), progress=False)
    w = mobile.sample_w(4, seed=50_000, truncation_psi=0.7)
    with torch.no_grad():
        source = mobile.synthesis(w, size=256).clamp(-1, 1)
        child = result.generator.synthesis(w, size=256).clamp(-1, 1)
    target = apply_filter("sepia", source)
    before = chroma_distance(source, target).mean()
    after = chroma_distance(child, target).mean()
    assert after < 0.6 * before, (float(before), float(after))
    for a, b in zip(to_pil(source), to_pil(child)):  # the same face, same place
        la, _ = detector.largest_face(a)
        lb, _ = detector.largest_face(b)
        eyes = np.linalg.norm(la.landmarks[36:42].mean(0) - la.landmarks[42:48].mean(0))
        assert np.linalg.norm(la.landmarks - lb.landmarks, axis=1).mean() < 0.15 * eyes


def test_a_child_edits_with_its_parents_directions(mobile):
    from stylelab.adaptation.adapted import child_from
    from stylelab.pipelines.edit import EditPipeline

    name = "blocks.0.conv1.bias"
    delta = {name: 0.1 * torch.ones_like(dict(mobile.named_parameters())[name])}
    child = child_from(mobile, delta, "test-child")
    pipe = EditPipeline(child)
    assert pipe.library.owner == "mobilestylegan-ffhq"
    smile = pipe.library.get("interfacegan")  # the parent's shipped set, checked against child
    assert "smile" in smile.names
    w = pipe.seed_latent(3, 0.7)
    plain = pipe.render(w)
    edited = pipe.render(w, {"interfacegan/smile": 2.0})
    import numpy as np

    assert np.abs(np.asarray(plain, float) - np.asarray(edited, float)).mean() > 1.0
