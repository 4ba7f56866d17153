"""Latent optimization and latent mapper against constructed models with known answers."""

from __future__ import annotations

import pytest
import torch
from planted import SIZE

from stylelab.clip import ClipError
from stylelab.styleclip import (
    ClipOptimizeConfig,
    MapperConfig,
    apply_mapper,
    load_mapper,
    optimize_text,
    train_mapper,
)


def _faces(G, n: int, seed: int) -> torch.Tensor:
    return G.map(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)), 0.7)


def _axis(G, clip, latent, axis: int) -> torch.Tensor:
    with torch.no_grad():
        return clip.encode_image(G.synthesis(latent, size=SIZE))[:, axis]


@pytest.mark.parametrize("space", ["w+", "s"])
def test_optimize_moves_the_prompted_axis(tiny, planted_clip, space):
    w = _faces(tiny, 2, 1)
    config = ClipOptimizeConfig(space=space, steps=30, size=SIZE, lr=0.1)
    result = optimize_text(tiny, planted_clip, w, "a face with gamma", config, progress=False)
    assert len(result.history) == 30 and result.image.shape == (2, 3, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(result.before, tiny.synthesis(w, size=SIZE))
    assert result.metrics["clip_after"] > result.metrics["clip_before"] + 0.1
    after = _axis(tiny, planted_clip, result.styles, 3)
    assert (after > _axis(tiny, planted_clip, w, 3) + 0.2).all()
    untouched = _axis(tiny, planted_clip, result.styles, 1)  # "alpha" was not asked for
    assert (untouched - _axis(tiny, planted_clip, w, 1)).abs().max() < (after - _axis(
        tiny, planted_clip, w, 3)).min()
    assert (result.latent is not None) == (space == "w+")


def test_optimize_bad_input(tiny, planted_clip):
    w = _faces(tiny, 1, 0)
    with pytest.raises(ValueError, match="steps"):
        ClipOptimizeConfig(steps=0)
    with pytest.raises(ValueError, match="space"):
        ClipOptimizeConfig(space="z")
    with pytest.raises(ClipError, match="empty"):
        optimize_text(tiny, planted_clip, w, "", ClipOptimizeConfig(steps=1, size=SIZE))
    long = " ".join(["gamma"] * 100)
    result = optimize_text(tiny, planted_clip, w, long, ClipOptimizeConfig(steps=1, size=SIZE),
                           progress=False)
    assert any("truncated" in n and "77" in n for n in result.notes)


def test_mapper_learns_and_generalises(tiny, planted_clip):
    config = MapperConfig(prompt="alpha", steps=60, size=SIZE, lr=1e-2)
    training = train_mapper(tiny, planted_clip, config, progress=False)
    assert training.step == 60 and len(training.history) == 60
    held_out = _faces(tiny, 8, 99)  # faces the mapper never saw
    edited = apply_mapper(training.mapper, held_out, tiny)
    gain = _axis(tiny, planted_clip, edited, 1) - _axis(tiny, planted_clip, held_out, 1)
    assert gain.mean() > 0.3 and (gain > 0).all()
    import time

    start = time.perf_counter()
    apply_mapper(training.mapper, held_out, tiny)
    assert time.perf_counter() - start < 1.0  # one MLP pass (generous: CI is noisy)


def test_mapper_checkpoint_resume_is_exact(tiny, planted_clip, tmp_path):
    full = MapperConfig(prompt="beta", steps=12, size=SIZE, checkpoint_every=4)
    straight = train_mapper(tiny, planted_clip, full, checkpoint=tmp_path / "a.safetensors",
                            progress=False)
    path = tmp_path / "b.safetensors"
    paused = train_mapper(tiny, planted_clip, full, checkpoint=path, stop_at=6, progress=False)
    assert paused.step == 6
    resumed = train_mapper(tiny, planted_clip, full, checkpoint=path, progress=False)
    assert resumed.step == 12 and len(resumed.history) == 12
    for (name, a), b in zip(straight.mapper.state_dict().items(),
                            resumed.mapper.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    mapper, config, meta = load_mapper(path, tiny)
    assert config.prompt == "beta" and meta["step"] == "12"
    w = _faces(tiny, 2, 5)
    torch.testing.assert_close(apply_mapper(mapper, w, tiny), apply_mapper(resumed.mapper, w, tiny))


def test_stop_check_pauses_training_and_optimisation(tiny, planted_clip, tmp_path):
    """A cancel (the hub's button) pauses a mapper like an interruption, checkpoint kept,
    and ends an optimisation with the iterate it has."""
    polls = []
    path = tmp_path / "c.safetensors"
    config = MapperConfig(prompt="beta", steps=12, size=SIZE, checkpoint_every=100)
    paused = train_mapper(tiny, planted_clip, config, checkpoint=path, progress=False,
                          stop=lambda: polls.append(1) or len(polls) > 5)
    assert paused.step == 5 and load_mapper(path, tiny)[2]["step"] == "5"
    polls.clear()
    result = optimize_text(tiny, planted_clip, _faces(tiny, 1, 3), "alpha",
                           ClipOptimizeConfig(steps=20, size=SIZE), progress=False,
                           stop=lambda: polls.append(1) or len(polls) > 4)
    assert len(result.history) == 4


@pytest.mark.weights
def test_mapper_checkpoint_errors(tiny, mobile, planted_clip, tmp_path):
    path = tmp_path / "m.safetensors"
    train_mapper(tiny, planted_clip, MapperConfig(prompt="beta", steps=2, size=SIZE),
                 checkpoint=path, progress=False)
    with pytest.raises(ClipError, match="another training run"):
        train_mapper(tiny, planted_clip, MapperConfig(prompt="gamma", steps=3, size=SIZE),
                     checkpoint=path, progress=False)
    with pytest.raises(ClipError, match="trained for tiny-test"):
        load_mapper(path, mobile)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ClipError, match="not a readable mapper checkpoint"):
        load_mapper(bad)


# ----------------------------------------------------------- the real generator
def _measure(images: torch.Tensor, face_clip) -> dict[str, torch.Tensor]:
    """Independent checks: dlib landmark smile and dlib's own identity descriptor."""
    import numpy as np

    from stylelab.faces.attributes import smile
    from stylelab.faces.identity import dlib_descriptor, dlib_landmarks
    from stylelab.images import to_pil

    out = {"smile": [], "descriptor": []}
    for img in to_pil(images):
        landmarks = dlib_landmarks(img)
        out["smile"].append(smile(landmarks))
        out["descriptor"].append(torch.as_tensor(np.asarray(dlib_descriptor(img, landmarks))))
    with torch.no_grad():
        logits = face_clip.attributes.predict(images, ffhq_aligned=True)["expression_logits"]
    return {"smile": torch.tensor(out["smile"]), "descriptor": torch.stack(out["descriptor"]),
            "happy": logits[:, 1] - logits[:, 0]}


def _identity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=1)


@pytest.mark.weights
@pytest.mark.slow
@pytest.mark.parametrize("space", ["w+", "s"])
def test_optimize_real_face_smiles_and_keeps_identity(mobile, face_clip, space):
    from stylelab.faces import IdentityModel

    w = _faces(mobile, 1, 4)  # a neutral face (face-api: neutral 1.0, happy 0.0)
    result = optimize_text(mobile, face_clip, w, "a smiling face",
                           ClipOptimizeConfig(space=space, steps=40), identity=IdentityModel(),
                           progress=False)
    with torch.no_grad():
        before = _measure(mobile.synthesis(w, size=256), face_clip)
    after = _measure(result.image, face_clip)
    assert after["happy"][0] > before["happy"][0] + 5
    assert after["smile"][0] > before["smile"][0]  # landmarks: not the net being optimised
    assert _identity(after["descriptor"], before["descriptor"])[0] >= 0.8


@pytest.mark.weights
@pytest.mark.slow
def test_mapper_real_faces_smile_and_keep_identity(mobile, face_clip_measures_only):
    from stylelab.faces import IdentityModel

    face_clip = face_clip_measures_only
    config = MapperConfig(prompt="a smiling face", steps=40, batch=2)
    training = train_mapper(mobile, face_clip, config, identity=IdentityModel(), progress=False)
    held_out = _faces(mobile, 4, 1234)
    with torch.no_grad():
        before = _measure(mobile.synthesis(held_out, size=256), face_clip)
        after = _measure(mobile.synthesis(apply_mapper(training.mapper, held_out, mobile),
                                          size=256), face_clip)
    assert (after["happy"] - before["happy"]).mean() > 2
    assert (after["smile"] - before["smile"]).mean() > 0
    assert _identity(after["descriptor"], before["descriptor"]).min() >= 0.8
