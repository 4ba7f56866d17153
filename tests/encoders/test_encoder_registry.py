"""Saving and loading encoders: fp16 round trip, refusals, missing and unknown names."""

from __future__ import annotations

import json

import pytest
import torch

from stylelab import load_generator
from stylelab.cache import CacheError
from stylelab.encoders import (
    AlignmentConfig,
    Encoder,
    EncoderConfig,
    EncoderMismatch,
    EncoderUnavailable,
    WImageAligner,
    list_encoders,
    load_aligner,
    load_encoder,
    load_encoder_file,
    save_aligner,
    save_encoder,
)

SIZES = {"backbone": "tiny-backbone", "input_size": 64, "channels": 16, "style_hidden": 16,
         "f_hidden": 16}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trained_like(G, kind="clcae") -> Encoder:
    """A tiny encoder with random (non-initial) weights everywhere."""
    torch.manual_seed(0)
    enc = Encoder(EncoderConfig.for_generator(G, kind, **SIZES), G)
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return enc


def cache_file(tmp_path, generator, kind):
    return tmp_path / "cache" / "encoders" / generator / f"{kind}.safetensors"


def test_round_trip_fp16(tiny, tmp_path):
    enc = trained_like(tiny)
    path = cache_file(tmp_path, "tiny-test", "clcae")
    save_encoder(enc, path, {"steps": 7, "command": "python training/train_encoder.py --tiny"})
    assert path.with_suffix(".sha256").is_file()
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["steps"] == 7 and sidecar["config"]["kind"] == "clcae"
    assert "tiny-test/clcae" in list_encoders()  # beside any shipped encoder
    loaded = load_encoder("tiny-test/clcae", G=tiny)
    assert loaded.config == enc.config and loaded.generator is tiny and not loaded.training
    assert loaded.w_avg.dtype == torch.float32 and torch.equal(loaded.w_avg, enc.w_avg)
    images = tiny.synthesis(tiny.sample_w(2, seed=3), size=64).clamp(-1, 1)
    a, b = enc.invert(images), loaded.invert(images)
    scale = a.wplus.abs().max()
    assert (a.wplus - b.wplus).abs().max() < 1e-2 * scale
    assert (a.f["b0"] - b.f["b0"]).abs().max() < 2e-2 * a.f["b0"].abs().max()
    # fp16 on disk: about half the bytes of the float32 weights
    n_float = sum(v.numel() for v in enc.export_state().values() if v.is_floating_point())
    assert path.stat().st_size < 2 * n_float + 64_000


def test_refuses_another_generator(tiny, tmp_path):
    path = cache_file(tmp_path, "tiny-test", "e4e")
    save_encoder(trained_like(tiny, "e4e"), path)
    other = load_generator("tiny-stylegan2")
    with pytest.raises(EncoderMismatch, match="trained for tiny-test, not tiny-stylegan2") as err:
        load_encoder("tiny-test/e4e", G=other)
    assert "32px" in str(err.value) and "train_encoder.py --model tiny-stylegan2" in str(err.value)
    with pytest.raises(EncoderMismatch):
        load_encoder_file(path, other)
    # same name and shapes, other average latent: refused as well
    impostor = load_generator("tiny-test")
    impostor.w_avg.add_(1.0)
    with pytest.raises(EncoderMismatch, match="average latent"):
        load_encoder_file(path, impostor)


def test_missing_and_unknown_names(tiny):
    with pytest.raises(EncoderUnavailable) as err:
        load_encoder("tiny-test/clcae", G=tiny)
    assert "python training/train_encoder.py --model tiny-test --kind clcae" in str(err.value)
    assert isinstance(err.value, CacheError)
    with pytest.raises(ValueError, match="kind in psp, e4e, clcae"):
        load_encoder("tiny-test/pix2pix")
    with pytest.raises(ValueError, match="generator>/<kind>"):
        load_encoder("clcae")
    with pytest.raises(ValueError, match="unknown model"):
        load_encoder("no-such-model/e4e")


def test_corrupt_file_is_never_loaded(tiny, tmp_path):
    path = cache_file(tmp_path, "tiny-test", "psp")
    save_encoder(trained_like(tiny, "psp"), path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="corrupt"):
        load_encoder("tiny-test/psp", G=tiny)


def test_aligner_round_trip(tiny, tmp_path):
    torch.manual_seed(0)
    config = AlignmentConfig(w_dim=32, backbone="tiny-backbone", image_size=32, feature_dim=32,
                             map_hidden=16, embed_dim=16, transformer_layers=1)
    aligner = WImageAligner(config, tiny.w_avg).freeze()
    path = tmp_path / "aligner.safetensors"
    save_aligner(aligner, path, "tiny-test", {"steps": 3})
    loaded = load_aligner(path, tiny)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    w = tiny.sample_w(3)
    torch.testing.assert_close(loaded.embed_latents(w), aligner.embed_latents(w))
    with pytest.raises(EncoderMismatch):
        load_aligner(path, load_generator("tiny-stylegan2"))
    with pytest.raises(EncoderUnavailable, match="train_alignment.py"):
        load_aligner(tmp_path / "none.safetensors")
