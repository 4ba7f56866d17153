"""adapt(): the three methods on the tiny generator, what trains, save/load, resume, stop."""

from __future__ import annotations

import json

import pytest
import torch

from stylelab import load_generator
from stylelab.adaptation import (
    DiFaConfig,
    JoJoConfig,
    NADAConfig,
    adapt,
    apply_filter,
    embedder_from,
    generator_digest,
    load_adapted,
)
from stylelab.adaptation.loop import trainable_names
from stylelab.cache import CacheError
from stylelab.testing.clip import FilterClip
from stylelab.testing.perceptual import tiny_backbone


@pytest.fixture(scope="module")
def reference(tiny):
    with torch.no_grad():
        return apply_filter("sepia", tiny.synthesis(tiny.sample_w(1, seed=5), size=32).clamp(-1, 1))


@pytest.fixture(scope="module")
def embedder():
    return embedder_from(tiny_backbone())


def fake_inverter(G):
    """A differentiable image -> W+ map (mean colour moves every code)."""
    def invert(x):
        return G.to_wplus(G.w_avg[None].expand(len(x), -1)) + x.mean((1, 2, 3))[:, None, None]
    return invert


def test_trainable_names_follow_layers(tiny):
    names = trainable_names(tiny)
    assert names and not any(n.startswith(("mapping.", "affines.", "heads.", "to_img."))
                             for n in names)
    assert "const" not in names
    with_rgb = trainable_names(tiny, rgb=True)
    assert set(names) < set(with_rgb) and any(n.startswith("heads.") for n in with_rgb)
    first = trainable_names(tiny, w_indices=[0])
    assert first == ["conv1.bias", "conv1.conv.weight"]
    assert any(n.startswith("affines.") for n in trainable_names(tiny, affines=True))


def test_difa_trains_only_synthesis_and_keeps_parent(tiny, reference, embedder):
    before = generator_digest(tiny)
    result = adapt(tiny, "difa", reference=reference, embedder=embedder,
                   inverter=fake_inverter(tiny), progress=False,
                   config=DiFaConfig(steps=6, window=2))
    assert generator_digest(tiny) == before  # the parent is never modified
    assert result.steps == 6 and len(result.history) == 6
    assert {"global", "style", "consistency"} <= set(result.history[-1])
    assert result.history[-1]["consistency"] > 0  # active once the window filled
    assert result.delta and all(not n.startswith(("mapping.", "affines.")) for n in result.delta)
    w = tiny.sample_w(2, seed=1)
    child = result.generator
    assert torch.equal(child.w_to_s(w)["conv1"], tiny.w_to_s(w)["conv1"])  # S shared
    assert child.model_name.startswith("adapted:") and child.parent_name == "tiny-test"
    assert not torch.allclose(child.synthesis(w), tiny.synthesis(w))
    assert result.config["consistency"] is True and result.reference_sha256


def test_difa_global_loss_decreases(tiny, reference, embedder):
    result = adapt(tiny, "difa", reference=reference, embedder=embedder, progress=False,
                   config=DiFaConfig(steps=30, style_weight=0.0, lr=0.01))
    first = sum(h["global"] for h in result.history[:5]) / 5
    last = sum(h["global"] for h in result.history[-5:]) / 5
    assert last < first - 0.05
    assert result.config["consistency"] is False  # no inverter: the term is off, and says so


def test_jojo_uses_the_given_latent(tiny, reference):
    latent = tiny.to_wplus(tiny.sample_w(1, seed=5))
    result = adapt(tiny, "jojo", reference=reference, latent=latent, backbone=tiny_backbone(),
                   config=JoJoConfig(steps=20, lr=0.01), progress=False)
    assert result.history[-1]["features"] < result.history[0]["features"]
    with pytest.raises(ValueError, match="reference"):
        adapt(tiny, "jojo", config=JoJoConfig(steps=1), progress=False)


def test_nada_moves_towards_the_filter(tiny):
    clip = FilterClip(tiny, "sepia", tiny_backbone(), faces=8)
    result = adapt(tiny, "nada", source_text="photo", target_text="sepia", clip=clip,
                   config=NADAConfig(steps=25, layers=4, lr=0.01), progress=False)
    first = sum(h["directional"] for h in result.history[1:6]) / 5
    last = sum(h["directional"] for h in result.history[-5:]) / 5
    assert last < first
    assert result.config["clip"] == clip.name and result.config["target_text"] == "sepia"


def test_nada_rejects_equal_or_empty_texts(tiny):
    from stylelab.clip import ClipError

    clip = FilterClip(tiny, "sepia", tiny_backbone(), faces=2)
    for source, target in [("photo", "photo"), ("", "sepia"), ("photo", " ")]:
        with pytest.raises(ClipError):
            adapt(tiny, "nada", source_text=source, target_text=target, clip=clip,
                  config=NADAConfig(steps=1), progress=False)
    with pytest.raises(ClipError, match="identically"):
        adapt(tiny, "nada", source_text="a cat", target_text="a dog", clip=clip,
              config=NADAConfig(steps=1), progress=False)


def test_bad_method_and_steps(tiny):
    with pytest.raises(ValueError, match="difa, jojo, nada"):
        adapt(tiny, "cyclegan")
    with pytest.raises(ValueError, match="steps"):
        DiFaConfig(steps=0)
    with pytest.raises(ValueError, match="DiFaConfig"):
        adapt(tiny, "difa", config=JoJoConfig(steps=1))


def test_save_load_roundtrip_and_registry(tiny, reference, embedder, tmp_path, monkeypatch):
    result = adapt(tiny, "difa", reference=reference, embedder=embedder, progress=False,
                   config=DiFaConfig(steps=3), name="sepia-test")
    folder = result.save(tmp_path / "sepia-test")
    info = json.loads((folder / "adapted.json").read_text())
    assert info["parent"] == "tiny-test" and info["method"] == "difa" and info["steps"] == 3
    back = load_adapted(folder)
    w = tiny.sample_w(2, seed=4)
    assert torch.allclose(back.generator.synthesis(w), result.generator.synthesis(w), atol=2e-3)
    by_path = load_generator(str(folder))
    assert torch.allclose(by_path.synthesis(w), back.generator.synthesis(w))
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path / "cache"))
    result.save(tmp_path / "cache" / "adapted" / "sepia-test")
    from stylelab.registry import list_adapted_names

    assert list_adapted_names() == ["adapted:sepia-test"]
    assert load_generator("adapted:sepia-test").model_name == "adapted:sepia-test"
    with pytest.raises(ValueError, match="sepia-test"):
        load_generator("adapted:missing")


def test_load_refuses_corrupt_and_foreign_folders(tiny, reference, embedder, tmp_path):
    result = adapt(tiny, "difa", reference=reference, embedder=embedder, progress=False,
                   config=DiFaConfig(steps=2))
    folder = result.save(tmp_path / "a")
    delta = folder / "delta.safetensors"
    data = delta.read_bytes()
    delta.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CacheError, match="corrupt or truncated"):
        load_adapted(folder)
    folder = result.save(tmp_path / "b")
    info = json.loads((folder / "adapted.json").read_text())
    info["parent_digest"] = "0" * 40  # trained on other parent weights
    (folder / "adapted.json").write_text(json.dumps(info))
    with pytest.raises(CacheError, match="parent digest"):
        load_adapted(folder)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "x.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not an adapted generator folder"):
        result.save(other)  # never overwrites a folder that is not ours
    assert (other / "x.txt").read_text() == "keep me"
    with pytest.raises(ValueError, match="not an adapted generator"):
        load_generator(str(other))


def test_resume_matches_uninterrupted_run(tiny, reference, tmp_path):
    latent = tiny.to_wplus(tiny.sample_w(1, seed=5))
    kwargs = dict(reference=reference, latent=latent, backbone=tiny_backbone(), progress=False)
    straight = adapt(tiny, "jojo", config=JoJoConfig(steps=6), **kwargs)
    calls = []

    def stop_after_three():
        calls.append(1)
        return len(calls) > 3

    partial = adapt(tiny, "jojo", config=JoJoConfig(steps=6), checkpoint=tmp_path / "ck",
                    stop=stop_after_three, **kwargs)
    assert partial.steps == 3  # cancelled: what it had, saved for resuming
    assert len(json.loads((tmp_path / "ck" / "state.json").read_text())["history"]) == 3
    resumed = adapt(tiny, "jojo", config=JoJoConfig(steps=6), checkpoint=tmp_path / "ck",
                    **kwargs)
    assert resumed.steps == 6
    for name, d in straight.delta.items():
        assert torch.allclose(resumed.delta[name], d, atol=1e-5), name
    with pytest.raises(CacheError, match="another adaptation run"):
        adapt(tiny, "jojo", config=JoJoConfig(steps=6, lr=0.01), checkpoint=tmp_path / "ck",
              **kwargs)


def test_preview_callback(tiny, reference, embedder):
    seen = []
    adapt(tiny, "difa", reference=reference, embedder=embedder, progress=False,
          config=DiFaConfig(steps=4), preview=lambda step, child, terms: seen.append(
              (step, torch.is_grad_enabled(), "global" in terms)), preview_every=2)
    assert seen == [(2, False, True), (4, False, True)]


def test_difa_reach_term_is_reported_and_falls(tiny, reference, embedder):
    result = adapt(tiny, "difa", reference=reference, embedder=embedder, progress=False,
                   config=DiFaConfig(steps=30, style_weight=0.0, reach_weight=1.0, lr=0.01))
    assert "reach" in result.history[0]
    first = sum(h["reach"] for h in result.history[:5]) / 5
    last = sum(h["reach"] for h in result.history[-5:]) / 5
    assert last < first
    assert result.config["reach_weight"] == 1.0


def test_preserve_colour_mixes_fewer_fine_entries(tiny):
    from stylelab.adaptation.jojo import mix_layers

    every, colour = mix_layers(tiny, False), mix_layers(tiny, True)
    assert every == list(range(every[0], tiny.num_ws)) and every[0] > 0  # the fine entries
    assert set(colour) < set(range(tiny.num_ws)) and len(colour) < len(every)
    assert min(colour) >= every[0]  # fine entries only: the coarse shape stays the reference's
