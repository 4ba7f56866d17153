"""Damaged or forged weight files: every loader answers with its own one-line error, never a
raw library exception, and never uses NaN/Inf weights."""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import stylelab
from stylelab.cache import CacheError, load_checked, save_checked, sha256_file
from stylelab.directions.base import Direction, DirectionError
from stylelab.models.checkpoints import (
    CheckpointFormatError,
    load_nvidia_pkl,
    load_rosinality,
    rosinality_state_dict,
)
from stylelab.models.stylegan2 import StyleGAN2
from stylelab.models.stylespace import latent_signature
from stylelab.registry import load_generator_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from sg2_helpers import TINY, randomize  # noqa: E402


def _damaged_files(tmp_path, suffix: str):
    real = tmp_path / f"real{suffix}"
    torch.save({"g_ema": {"style.1.weight": torch.ones(2, 2)}}, real)
    blob = real.read_bytes()
    cases = {"empty": b"", "text": b"just some text, not a checkpoint\n",
             "truncated": blob[: len(blob) // 2], "random": bytes(range(256)) * 40}
    for name, data in cases.items():
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(data)
        yield name, path
    wrong = tmp_path / f"zip-wrong{suffix}"
    with zipfile.ZipFile(wrong, "w") as zf:
        zf.writestr("archive/data.pkl", b"not a pickle")
    yield "zip-wrong", wrong
    yield "missing-keys", real


@pytest.mark.parametrize("loader,suffix", [(load_rosinality, ".pt"), (load_nvidia_pkl, ".pkl"),
                                           (load_generator_file, ".pt"),
                                           (load_generator_file, ".pkl")])
def test_damaged_checkpoints_raise_checkpoint_format_error(tmp_path, loader, suffix):
    for name, path in _damaged_files(tmp_path, suffix):
        with pytest.raises(CheckpointFormatError) as info:
            loader(path)
        message = str(info.value)
        assert "\n" not in message.strip() and message, name
    with pytest.raises(CheckpointFormatError, match="not found"):
        loader(tmp_path / f"nothing-here{suffix}")


def test_nan_weights_are_refused(tmp_path):
    G = randomize(StyleGAN2(TINY))
    state = rosinality_state_dict(G)
    torch.save({"g_ema": state}, tmp_path / "ok.pt")
    assert load_rosinality(tmp_path / "ok.pt").config.resolution == 32
    key = next(k for k in state if k.endswith("weight"))
    state[key] = state[key].clone()
    state[key].view(-1)[0] = float("nan")
    torch.save({"g_ema": state}, tmp_path / "nan.pt")
    with pytest.raises(CheckpointFormatError, match="NaN or Inf"):
        load_rosinality(tmp_path / "nan.pt")


def test_malicious_rosinality_pickle_runs_nothing(tmp_path):
    """torch.load(weights_only=True) refuses the payload; nothing it names is run."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    for payload in (Evil(), {"g_ema": {"style.1.weight": Evil()}}):
        path = tmp_path / "evil.pt"
        torch.save(payload, path)
        with pytest.raises(CheckpointFormatError):
            load_rosinality(path)
        with pytest.raises(CheckpointFormatError):
            load_generator_file(path)
        assert not marker.exists()


def test_rewritten_sidecar_still_fails_with_cache_error(tmp_path):
    path = tmp_path / "w.safetensors"
    save_checked(path, {"a": torch.ones(3)})
    path.write_bytes(b"garbage that is not safetensors at all")
    path.with_suffix(".sha256").write_text(sha256_file(path) + "\n")  # forged to match
    with pytest.raises(CacheError, match="not a valid safetensors file"):
        load_checked(path)
    data = path.read_bytes()
    save_checked(path, {"a": torch.ones(1000)})
    path.write_bytes(path.read_bytes()[:-100])  # truncated, sidecar rewritten
    path.with_suffix(".sha256").write_text(sha256_file(path) + "\n")
    with pytest.raises(CacheError):
        load_checked(path)
    assert data


def test_cached_nan_or_inf_is_refused(tmp_path):
    for bad in (float("nan"), float("inf")):
        path = tmp_path / "nan.safetensors"
        save_checked(path, {"ok": torch.ones(2), "bad": torch.tensor([1.0, bad])})
        with pytest.raises(CacheError, match="'bad' holds NaN or Inf"):
            load_checked(path)


def test_forged_direction_signature_is_refused_on_load(tmp_path):
    G = stylelab.load_generator("tiny-test")
    good = Direction(["a"], torch.randn(1, G.w_dim), "w", G.model_name, "test",
                     latent_signature(G, "w"))
    good.save(tmp_path / "good")
    assert Direction.load(tmp_path / "good").vectors.shape == (1, G.w_dim)
    save_file({"vectors": torch.randn(1, G.w_dim + 5), "scales": torch.ones(1)},
              str(tmp_path / "good.safetensors"))  # the JSON still claims it fits
    with pytest.raises(DirectionError, match="damaged or edited"):
        Direction.load(tmp_path / "good")
    save_file({"vectors": torch.full((1, G.w_dim), float("nan")), "scales": torch.ones(1)},
              str(tmp_path / "good.safetensors"))
    with pytest.raises(DirectionError, match="NaN"):
        Direction.load(tmp_path / "good")
    save_file({"vectors": torch.randn(1, G.w_dim), "scales": torch.ones(3)},
              str(tmp_path / "good.safetensors"))
    with pytest.raises(DirectionError, match="scales"):
        Direction.load(tmp_path / "good")
