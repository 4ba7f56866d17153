"""The shipped e4e encoder for mobilestylegan-ffhq on held-out generated faces (bars from its
training report, README "Encoders", minus a margin), and through the inversion pipeline."""

from __future__ import annotations

import pytest
import torch

from stylelab.encoders import load_encoder
from stylelab.encoders.registry import encoder_path
from stylelab.metrics import psnr

pytestmark = [pytest.mark.weights, pytest.mark.skipif(
    encoder_path("mobilestylegan-ffhq", "e4e") is None, reason="no e4e shipped or trained")]


def test_e4e_reconstructs_held_out_faces(mobile, held_out):
    encoder = load_encoder("mobilestylegan-ffhq/e4e", mobile)
    w, faces = held_out
    with torch.no_grad():
        out = encoder.invert(faces)
        recon = mobile.synthesis(out.wplus, size=256).clamp(-1, 1)
        average = mobile.synthesis(mobile.w_avg[None], size=256).clamp(-1, 1)
    assert out.wplus.shape == (4, mobile.num_ws, mobile.w_dim)
    got = float(psnr(recon, faces).mean())
    assert got > 16.5, got  # training report: 18.6 dB W+ on 32 held-out faces
    assert got > float(psnr(average.expand_as(faces), faces).mean()) + 3
    # the latent is nearer the true one than the average face's (training report: W MSE
    # 0.090 on held-out faces; here about 0.76 of the average's)
    assert (out.w - w).square().mean() < 0.9 * (mobile.w_avg - w).square().mean()


def test_inversion_pipeline_encoder_method(mobile):
    from stylelab.pipelines.invert import InversionPipeline, example_photos

    photos = example_photos()
    if not photos:
        pytest.skip("openpeople is not installed")
    outcome = InversionPipeline(mobile).invert(photos[0], "encoder", steps=1)
    assert outcome.result.method.startswith("encoder") or outcome.result.method == "e4e"
    assert outcome.metrics["psnr"] > 14, outcome.metrics
