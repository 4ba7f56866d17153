"""CLIP name grammar, registration, availability messages, lazy imports (no backend needed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import pytest
import torch

from stylelab.clip import (
    DEFAULT_CLIP,
    FACES_MINILM,
    ClipError,
    ClipUnavailableError,
    available_clip_models,
    clip_status,
    faces_minilm,
    load_clip,
    preferred_clip,
    register_clip,
    unregister_clip,
)


@pytest.fixture(autouse=True)
def _offline_cache(hub_cache, monkeypatch):
    """Every test here sees an empty offline hub cache and no bundled model (whether or not
    this install ships it), unless it asks for ``bundled``."""
    monkeypatch.setattr(faces_minilm, "faces_minilm_available", lambda path=None: False)


@pytest.fixture
def bundled(monkeypatch):
    """The bundled face model counts as installed (nothing is loaded)."""
    monkeypatch.setattr(faces_minilm, "faces_minilm_available", lambda path=None: True)


def test_import_is_lazy():
    code = ("import sys, stylelab.clip; "
            "print(sorted(m for m in ('open_clip', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["nope", "ViT-B-32", "clip:ViT-B/32", "/no/such/folder"])
def test_unknown_name_lists_forms(name):
    register_clip("toy-listed", lambda: None)
    try:
        with pytest.raises(ClipError) as err:
            load_clip(name)
    finally:
        unregister_clip("toy-listed")
    msg = str(err.value)
    assert not isinstance(err.value, ClipUnavailableError)
    for form in ("open_clip:ARCH/TAG", "hf-hub:org/repo", "transformers:org/repo", DEFAULT_CLIP,
                 "toy-listed"):
        assert form in msg


@pytest.mark.parametrize("name", ["open_clip:ViT-B-32", "open_clip:hf-hub:", "transformers:"])
def test_malformed_names(name):
    with pytest.raises(ClipError, match="expected|give a hub id"):
        load_clip(name)


@pytest.mark.parametrize("name", ["hf-hub:org/not-cached", "transformers:org/not-cached-clip",
                                  "open_clip:ViT-B-32//no/such/weights.safetensors"])
def test_uncached_weights_explain_what_to_do(name, toy_clip):
    register_clip("toy-available", toy_clip)
    try:
        with pytest.raises(ClipUnavailableError) as err:
            load_clip(name)
    finally:
        unregister_clip("toy-available")
    msg = str(err.value)
    assert f"'{name}' is not available" in msg
    assert "available now: toy-available" in msg
    assert "internet" in msg and "600 MB" in msg and "transformers:/path/to/folder" in msg
    assert "Traceback" not in msg


def test_register_round_trip(toy_clip):
    register_clip("toy", toy_clip, "a constructed test model")
    try:
        clip = load_clip("toy")
        assert isinstance(clip, toy_clip) and load_clip("toy") is clip
        assert not any(p.requires_grad for p in clip.parameters()) and not clip.training
        assert "toy" in available_clip_models() and "toy" in clip_status()
        emb = clip.encode_text(["a smiling face", "an old man"])
        assert emb.shape == (2, 8)
        torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))
        check = clip.check_prompt("x" * 20)
        assert check.truncated and "12" in check.message and check.tokens == 22
        register_clip("toy", toy_clip)  # re-registering replaces and drops the loaded model
        assert load_clip("toy") is not clip
    finally:
        unregister_clip("toy")
    assert "toy" not in available_clip_models()
    with pytest.raises(ClipError, match="unknown CLIP model 'toy'"):
        load_clip("toy")


def test_factory_must_build_a_text_image_model():
    register_clip("broken", lambda: torch.nn.Linear(2, 2))
    try:
        with pytest.raises(ClipError, match="not a TextImageModel"):
            load_clip("broken")
    finally:
        unregister_clip("broken")


def test_concurrent_loads_build_once(toy_clip):
    calls = []

    def factory():
        calls.append(1)
        time.sleep(0.05)
        return toy_clip()

    register_clip("toy-threads", factory)
    try:
        results = []
        threads = [threading.Thread(target=lambda: results.append(load_clip("toy-threads")))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(calls) == 1 and len(results) == 4
        assert all(r is results[0] for r in results)
    finally:
        unregister_clip("toy-threads")


def test_status_when_nothing_is_available():
    assert available_clip_models() == []
    status = clip_status()
    assert status.startswith("No CLIP model is available") and "\n" not in status
    assert "600 MB" in status and "open_clip_torch" in status and "transformers" in status


def test_cached_hub_repos_are_listed(put_repo, hub_cache, tmp_path):
    """Cache entries become load_clip names; open_clip's OpenAI B/32 download is the default."""
    dummy = tmp_path / "dummy"
    dummy.write_text("{}")
    repos = {"timm/vit_base_patch32_clip_224.openai": ["open_clip_model.safetensors"],
             "org/my-clip": ["open_clip_config.json", "open_clip_pytorch_model.bin"],
             "org/hf-clip": ["config.json", "model.safetensors"],
             "org/clip-without-weights": ["config.json"],
             "org/not-a-match": ["config.json", "model.safetensors"]}
    for repo_id, files in repos.items():
        put_repo(repo_id, dict.fromkeys(files, dummy))
    try:
        assert available_clip_models() == [DEFAULT_CLIP, "open_clip:ViT-B-32/openai",
                                           "transformers:org/hf-clip", "hf-hub:org/my-clip"]
        assert "hf-hub:org/my-clip" in clip_status()
    finally:
        for repo_id in repos:
            shutil.rmtree(hub_cache / ("models--" + repo_id.replace("/", "--")))


def test_preferred_model_without_any_cached_clip(bundled):
    """No CLIP cached: the bundled model is listed and is the default of load_clip()."""
    assert available_clip_models() == [FACES_MINILM]
    assert preferred_clip() == FACES_MINILM
    assert f"load_clip() uses {FACES_MINILM}" in clip_status()
    calls = []
    register_clip("toy-preferred", lambda: calls.append(1))  # registered: never implicit
    try:
        assert preferred_clip() == FACES_MINILM
    finally:
        unregister_clip("toy-preferred")
    assert not calls


def test_preferred_model_prefers_a_real_clip(bundled):
    assert preferred_clip([FACES_MINILM, "hf-hub:org/my-clip"]) == "hf-hub:org/my-clip"
    assert preferred_clip(["hf-hub:org/my-clip", FACES_MINILM, DEFAULT_CLIP]) == DEFAULT_CLIP
    assert preferred_clip([]) == DEFAULT_CLIP  # nothing: the default, whose error says why


def test_load_clip_without_a_name_uses_the_preferred_model(monkeypatch, toy_clip):
    from stylelab.clip import registry

    monkeypatch.setattr(registry, "preferred_clip", lambda available=None: "toy-implicit")
    register_clip("toy-implicit", toy_clip)
    try:
        toy = load_clip()
        assert isinstance(toy, toy_clip) and load_clip("  ") is toy
    finally:
        unregister_clip("toy-implicit")
