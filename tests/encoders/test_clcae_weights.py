"""The shipped CLCAE encoder for mobilestylegan-ffhq on held-out generated faces: its W+
reconstruction is at least e4e's, and its F features add detail on top (bars from the
training report, README "Encoders", minus a margin)."""

from __future__ import annotations

import pytest
import torch

from stylelab.encoders import load_encoder
from stylelab.encoders.registry import ASSETS
from stylelab.metrics import psnr

SHIPPED = ASSETS / "mobilestylegan-ffhq" / "clcae.safetensors"
pytestmark = [pytest.mark.weights, pytest.mark.skipif(not SHIPPED.is_file(),
                                                       reason="no CLCAE shipped")]


def test_clcae_reconstructs_held_out_faces_and_f_adds_detail(mobile, held_out):
    clcae = load_encoder("mobilestylegan-ffhq/clcae", mobile)
    _, faces = held_out
    with torch.no_grad():
        out = clcae.invert(faces)
        plain = mobile.synthesis(out.wplus, size=256).clamp(-1, 1)
        with_f = mobile.synthesis(out.wplus, size=256, features_in=out.f).clamp(-1, 1)
    assert out.f and set(out.f) <= {layer.name for layer in mobile.feature_layers}
    got_wplus, got_f = float(psnr(plain, faces).mean()), float(psnr(with_f, faces).mean())
    assert got_wplus > 17.0, got_wplus  # training report: 19.26 dB on 32 held-out faces
    assert got_f > 25.0 and got_f > got_wplus + 5, (got_f, got_wplus)  # report: 27.86 dB
