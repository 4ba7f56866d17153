"""Encoder inversion and its hybrids on tiny models: results measured like the optimisers',
CLCAE's F kept through save/load and re-rendering, the pipeline's encoder loading."""

from __future__ import annotations

import pytest
import torch

from stylelab.encoders import (
    Encoder,
    EncoderConfig,
    EncoderUnavailable,
    render,
    save_encoder,
)
from stylelab.inversion import InversionResult, OptimizeConfig, PTIConfig
from stylelab.inversion.encode import encoder_pti, invert_encoder, refine
from stylelab.pipelines.invert import METHODS, InversionPipeline, check_method

SIZES = {"backbone": "tiny-backbone", "input_size": 64, "channels": 16, "style_hidden": 16,
         "f_hidden": 16}


def make_encoder(G, kind: str) -> Encoder:
    torch.manual_seed(0)
    return Encoder(EncoderConfig.for_generator(G, kind, **SIZES), G).eval()


@pytest.fixture(scope="module")
def target(tiny):
    with torch.no_grad():
        return tiny.synthesis(tiny.sample_w(1, seed=5), size=64).clamp(-1, 1)


def test_invert_encoder_is_measured_and_keeps_f(tiny, target, tmp_path):
    enc = make_encoder(tiny, "clcae")
    result = invert_encoder(enc, target)
    assert result.method == "encoder:clcae" and result.space == "w+" and result.steps_run == 0
    assert result.latent.shape == (1, tiny.num_ws, tiny.w_dim)
    assert set(result.features) == {enc.config.f_layer} and {"psnr", "ms_ssim"} <= set(result.metrics)
    with torch.no_grad():
        expected = render(tiny, enc.invert(target), size=64)
    assert torch.allclose(result.reconstruction, expected, atol=1e-5)
    loaded = InversionResult.load(result.save(tmp_path / "clcae"))
    assert torch.allclose(loaded.features[enc.config.f_layer], result.features[enc.config.f_layer])
    assert torch.allclose(loaded.synthesize(tiny), result.reconstruction, atol=1e-5)
    assert invert_encoder(enc, target, use_f=False).features is None
    loaded.features = {k: v + 0.5 for k, v in loaded.features.items()}  # F is really used
    assert not torch.allclose(loaded.synthesize(tiny), result.reconstruction, atol=1e-3)


def test_invert_encoder_needs_a_generator(tiny, target):
    enc = Encoder(EncoderConfig.for_generator(tiny, "e4e", **SIZES))
    with pytest.raises(ValueError, match="attach"):
        invert_encoder(enc, target)


def test_refine_starts_at_the_encoder_and_improves(tiny, target):
    enc = make_encoder(tiny, "e4e")
    start = invert_encoder(enc, target)
    config = OptimizeConfig(space="w", steps=15, size=64, lr=0.05)
    result = refine(enc, target, config, progress=False)
    assert result.method == "encoder:e4e+w+" and result.space == "w+" and result.steps_run == 15
    assert result.metrics["encoder_psnr"] == pytest.approx(start.metrics["psnr"])
    assert result.metrics["psnr"] > start.metrics["psnr"]


def test_encoder_pti_pivots_from_the_encoder(tiny, target):
    enc = make_encoder(tiny, "e4e")
    pti = PTIConfig(pivot=OptimizeConfig(space="w", steps=3, size=64), tune_steps=3)
    result = encoder_pti(enc, target, pti, progress=False)
    assert result.method == "encoder:e4e+pti" and result.generator_delta
    assert result.latent.shape == (1, tiny.w_dim)


def test_pipeline_loads_encoders_once_and_explains_missing_ones(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    pipe = InversionPipeline(tiny, size=64)
    with pytest.raises(EncoderUnavailable, match="train_encoder.py --model tiny-test --kind e4e"):
        pipe.encoder("e4e")
    save_encoder(make_encoder(tiny, "e4e"), tmp_path / "encoders" / "tiny-test" / "e4e.safetensors",
                 {"steps": 0})
    first = pipe.encoder("e4e")
    assert pipe.encoder("e4e") is first and first.generator is tiny
    given = make_encoder(tiny, "clcae")
    assert InversionPipeline(tiny, encoders={"clcae": given}).encoder("clcae") is given


@pytest.mark.parametrize("method", METHODS)
def test_every_method_is_accepted(method):
    assert check_method(method.upper(), 5) == (method, 5)
    with pytest.raises(ValueError, match="encoder\\+pti"):
        check_method("encoder+w", 5)


def test_edits_move_f_with_the_latent(tiny, target):
    """Unedited, the F face renders as the inversion; an edit moves F by G_k(edit) - G_k(w)."""
    from stylelab.encoders import shift_features
    from stylelab.images import to_pil
    from stylelab.pipelines.edit import EditPipeline

    result = invert_encoder(make_encoder(tiny, "clcae"), target)
    result.features = {k: v + 0.3 for k, v in result.features.items()}  # unlike G_k(w+)
    w, f = result.latent, result.features
    same = shift_features(tiny, f, w, w.clone())
    assert torch.equal(same[next(iter(f))], f[next(iter(f))])
    pipe = EditPipeline(tiny, size=64)
    with torch.no_grad():
        expected = tiny.synthesis(w, size=64, features_in=f)
    assert pipe.render(w, features=f).tobytes() == to_pil(expected)[0].tobytes()
    assert pipe.render(w).tobytes() != to_pil(expected)[0].tobytes()
    styles = tiny.w_to_s(w)
    moved = shift_features(tiny, f, styles, {k: v * 1.5 for k, v in styles.items()})
    assert not torch.allclose(moved[next(iter(f))], f[next(iter(f))])
    with pytest.raises(ValueError, match="exactly one"):
        shift_features(tiny, {}, w, w)
