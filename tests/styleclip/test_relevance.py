"""Channel relevance: ours (Jacobian, range finder) against StyleCLIP's finite differences,
planted channels recovered, cache and mismatch errors."""

from __future__ import annotations

import pytest
import torch
from planted import PLANTED, SIZE

from stylelab.clip import ClipError
from stylelab.styleclip import (
    RelevanceConfig,
    channel_relevance,
    global_direction,
    load_or_compute_relevance,
    naive_relevance,
    relevance_path,
    text_direction,
)
from stylelab.styleclip.relevance import Relevance, naive_cost, ours_cost

CHANNELS = list(range(0, 228, 9)) + list(PLANTED.values())


@pytest.fixture(scope="module")
def naive(tiny, planted_clip):
    return naive_relevance(tiny, planted_clip, CHANNELS, faces=8, size=SIZE, progress=False)


def _agreement(ours: torch.Tensor, naive_rows: torch.Tensor) -> torch.Tensor:
    alive = naive_rows.norm(dim=1) > 0.5  # channels with no effect have no direction
    return (ours[CHANNELS][alive] * naive_rows[alive]).sum(1)


def test_exact_jacobian_agrees_with_finite_differences(tiny_relevance, naive):
    rows, cost = naive
    assert cost == 2 * len(CHANNELS) * 8
    cos = _agreement(tiny_relevance.delta_i, rows)
    assert len(cos) >= 20
    assert cos.mean() >= 0.95, cos
    assert cos.min() >= 0.9, cos


def test_range_finder_is_cheaper_and_close(tiny, planted_clip, naive, tiny_relevance):
    config = RelevanceConfig(faces=8, rank=10, size=SIZE)
    relevance = channel_relevance(tiny, planted_clip, config, progress=False)
    assert relevance.evaluations == {"forward": 8 * 21, "backward": 8 * 10}
    assert relevance.evaluations["backward"] < tiny_relevance.evaluations["backward"]
    assert ours_cost(config, planted_clip.embed_dim)["backward"] == 80
    cos = _agreement(relevance.delta_i, naive[0])
    assert cos.mean() >= 0.85, cos


def test_planted_channels_rank_first(tiny_relevance, planted_clip):
    for k, (word, channel) in enumerate(PLANTED.items()):
        delta_t = text_direction(planted_clip, f"a face with {word}", "a face")
        assert delta_t.argmax() == k + 1  # the word's axis
        scores = tiny_relevance.delta_i @ delta_t
        assert int(scores.argmax()) == channel, (word, scores.topk(3))
        direction = global_direction(tiny_relevance, delta_t, beta=0.1)
        assert direction.delta_s[channel] == 1.0


def test_cache_roundtrip_and_mismatch(tiny, planted_clip, tiny_relevance, tmp_path):
    path = tiny_relevance.save(tmp_path / "rel.safetensors")
    loaded = Relevance.load(path)
    assert loaded.clip == planted_clip.name and loaded.embed_dim == planted_clip.embed_dim
    torch.testing.assert_close(loaded.delta_i, tiny_relevance.delta_i, atol=2e-3, rtol=0)
    assert loaded.evaluations == tiny_relevance.evaluations
    # the cached file is used instead of recomputing
    again = load_or_compute_relevance(tiny, planted_clip, path=path, progress=False)
    assert again.config == tiny_relevance.config
    # a CLIP model with another embedding size cannot use it
    from stylelab.testing.clip import PlantedChannelsClip

    other = PlantedChannelsClip(tiny, {"alpha": 5}, image_size=32, distractors=4,
                                render_size=SIZE)
    with pytest.raises(ClipError, match="embedding size 20"):
        load_or_compute_relevance(tiny, other, path=path, progress=False)
    path.write_bytes(b"garbage")
    with pytest.raises(Exception, match="corrupt|truncated|checksum"):
        Relevance.load(path)


def test_cache_path_per_generator_and_model(tiny, planted_clip):
    path = relevance_path(tiny, planted_clip)
    assert path.parent.name == tiny.model_name and path.suffix == ".safetensors"
    assert "/" not in planted_clip.cache_key and planted_clip.cache_key in path.name


@pytest.mark.weights
def test_costs(tiny, mobile):
    assert naive_cost(mobile, 100) == 2 * 7136 * 100
    cost = ours_cost(RelevanceConfig(faces=100, rank=48, chunk=16), 512)
    assert cost == {"forward": 97 * 100, "backward": 48 * 100, "batched_backward": 300}
    assert naive_cost(mobile, 100) / (cost["forward"] + 2 * cost["backward"]) > 20


def test_digest_mismatch_is_refused_and_shipped_file_needs_the_same_weights(
        tiny, planted_clip, tiny_relevance, tmp_path, monkeypatch):
    from dataclasses import replace

    from stylelab.styleclip import relevance as rel

    made = replace(tiny_relevance, clip_digest="a" * 64)
    path = made.save(tmp_path / "rel.safetensors")
    assert Relevance.load(path).clip_digest == "a" * 64
    monkeypatch.setattr(planted_clip, "weights_digest", "b" * 64, raising=False)
    with pytest.raises(ClipError, match="other weights"):
        load_or_compute_relevance(tiny, planted_clip, path=path, progress=False)
    # a shipped file is used (no cached one, no computing) only for the very same weights
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(rel, "shipped_relevance_path", lambda G, clip: path)
    computed = replace(tiny_relevance, clip_digest="b" * 64)
    monkeypatch.setattr(rel, "channel_relevance", lambda *a, **k: computed)
    assert load_or_compute_relevance(tiny, planted_clip, progress=False) is computed
    assert rel.relevance_path(tiny, planted_clip).is_file()  # computed, then cached
    rel.relevance_path(tiny, planted_clip).unlink()
    monkeypatch.setattr(planted_clip, "weights_digest", "a" * 64, raising=False)
    shipped = load_or_compute_relevance(tiny, planted_clip, progress=False)
    assert isinstance(shipped, Relevance) and shipped.clip_digest == "a" * 64


def test_an_interrupted_relevance_resumes_to_the_same_result(tiny, planted_clip, tmp_path,
                                                             monkeypatch):
    """Killed after 2 of 5 faces, then run again with the same checkpoint: only the last 3
    faces are computed, and the result equals an uninterrupted run's (range finder included,
    whose random state is part of the checkpoint); another config starts afresh."""
    from stylelab.styleclip import relevance as module

    config = RelevanceConfig(faces=5, rank=6, size=SIZE)
    whole = channel_relevance(tiny, planted_clip, config, progress=False)
    checkpoint = tmp_path / "partial.safetensors"
    real, calls = module.face_jacobian, []

    def dies_after_two(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "face_jacobian", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        channel_relevance(tiny, planted_clip, config, progress=False, checkpoint=checkpoint)
    monkeypatch.setattr(module, "face_jacobian", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    resumed = channel_relevance(tiny, planted_clip, config, progress=False, checkpoint=checkpoint)
    assert len(calls) == 5  # 2 before the interruption, 3 after
    assert torch.allclose(resumed.delta_i, whole.delta_i, atol=1e-6)
    assert resumed.evaluations == whole.evaluations
    other = channel_relevance(tiny, planted_clip, RelevanceConfig(faces=2, rank=6, size=SIZE),
                              progress=False, checkpoint=checkpoint)
    assert len(calls) == 7 and other.config["faces"] == 2  # not resumed from 5 faces' state
    monkeypatch.setattr(module, "face_jacobian", real)
    cached = load_or_compute_relevance(tiny, planted_clip, RelevanceConfig(faces=2, rank=6,
                                       size=SIZE), path=tmp_path / "r.safetensors",
                                       progress=False)
    assert cached.config["faces"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "partial.safetensors", "partial.sha256", "r.safetensors", "r.sha256"]  # none left


def test_cancel_stops_the_one_off_relevance_and_the_next_run_resumes(tiny, planted_clip,
                                                                     tmp_path, monkeypatch):
    """The Text edit tab's Cancel during a global direction's first use: stopped between
    faces with a message, the faces done kept, and the next run finishes from there."""
    from stylelab.pipelines.textedit import TextEditPipeline
    from stylelab.styleclip import RelevanceStopped
    from stylelab.styleclip import relevance as module

    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    config = RelevanceConfig(faces=4, rank=6, size=SIZE)
    pipe = TextEditPipeline(tiny, planted_clip, identity=None, size=SIZE, relevance=config)
    w = tiny.sample_w(1, seed=3)
    polls = []

    def stop_after_two() -> bool:
        polls.append(1)
        return len(polls) > 2

    with pytest.raises(RelevanceStopped, match="after 2 of 4 faces .*run it again"):
        pipe.run("global", w, "a face with alpha", stop=stop_after_two)
    real, computed = module.face_jacobian, []
    monkeypatch.setattr(module, "face_jacobian",
                        lambda *a, **k: (computed.append(1), real(*a, **k))[1])
    result = pipe.run("global", w, "a face with alpha", stop=lambda: False)
    assert len(computed) == 2 and result.image.shape == result.before.shape
    assert not list(tmp_path.rglob("*.partial.*"))  # finished: no partial file left


def test_mean_centred_differences_ignore_the_faces_own_value(tiny, planted_clip):
    """StyleCLIP's reference code sets the channel to its mean before stepping ±5σ: two faces
    that differ only in that channel then give the same difference (stepping from each face's
    own value, they do not)."""
    from stylelab.models import style_mean_std
    from stylelab.styleclip.relevance import naive_differences, seeded_styles

    mean, std = style_mean_std(tiny, samples=200)
    c = PLANTED[next(iter(PLANTED))]
    flats = seeded_styles(tiny, 1, 0.7, 0).repeat(2, 1)
    flats[1, c] += 3 * std[c]
    centred = naive_differences(tiny, planted_clip, [c], flats, std, size=SIZE, progress=False,
                                mean=mean)
    assert torch.allclose(centred[0, 0], centred[0, 1], atol=1e-6)
    own = naive_differences(tiny, planted_clip, [c], flats, std, size=SIZE, progress=False)
    assert not torch.allclose(own[0, 0], own[0, 1], atol=1e-3)


def test_pipeline_uses_a_given_relevance(tiny, planted_clip, tiny_relevance, tmp_path,
                                         monkeypatch):
    """``use_relevance`` (e.g. a file made with more faces): global directions never compute
    one; a relevance of another generator is refused."""
    from dataclasses import replace

    from stylelab.pipelines.textedit import TextEditPipeline
    from stylelab.styleclip import relevance as module

    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    monkeypatch.setattr(module, "channel_relevance", lambda *a, **k: pytest.fail("computed"))
    pipe = TextEditPipeline(tiny, planted_clip, identity=None, size=SIZE)
    pipe.use_relevance(Relevance.load(tiny_relevance.save(tmp_path / "given.safetensors")))
    result = pipe.run("global", tiny.sample_w(1, seed=3), "a face with alpha")
    assert result.image.shape == result.before.shape
    with pytest.raises(ClipError, match="StyleSpace"):
        pipe.use_relevance(replace(tiny_relevance, signature="other"))
