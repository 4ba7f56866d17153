"""The embedded MobileStyleGAN against OpenVINO running the original IR in f32."""

import numpy as np
import pytest
import torch

from stylelab.latents import z_from_seeds
from stylelab.models.openvino_ir import IRFormatError, read_ir
from stylelab.registry import random_face_data_dir

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def openvino_models():
    ov = pytest.importorskip("openvino")
    data = random_face_data_dir()
    core, cfg = ov.Core(), {"INFERENCE_PRECISION_HINT": "f32"}
    return (core.compile_model(str(data / "MappingNetwork.xml"), "CPU", cfg),
            core.compile_model(str(data / "SynthesisNetwork.xml"), "CPU", cfg))


@torch.inference_mode()
def test_matches_openvino(mobile, openvino_models):
    mapping, synthesis = openvino_models
    z = z_from_seeds([0, 1, 2, 3]).numpy()
    for i in range(4):
        w_ov = mapping(z[i:i + 1])[0]
        w = mobile.map(torch.from_numpy(z[i:i + 1]))
        assert np.abs(w.numpy() - w_ov).max() <= 1e-3
        img_ov = synthesis(w_ov)[0]
        img = mobile.synthesis(torch.from_numpy(w_ov), size=1024).numpy()
        assert np.abs(img - img_ov).mean() <= 2e-3


@torch.inference_mode()
def test_real_faces_at_every_size(mobile):
    w = mobile.map(z_from_seeds([0]), 0.7)
    full = mobile.synthesis(w, size=1024)
    for size in (256, 512):
        img = mobile.synthesis(w, size=size)
        ref = torch.nn.functional.adaptive_avg_pool2d(full, size)
        mse = (img.clamp(-1, 1) - ref.clamp(-1, 1)).square().mean().item()
        assert 10 * np.log10(4 / mse) > 22, f"{size}px early exit too far from the 1024px image"
    assert -1.2 < full.min() and full.max() < 1.2 and full.std() > 0.2


def test_w_avg_is_the_mean_of_w(mobile):
    w = mobile.map(z_from_seeds(range(1000)))
    sampling_error = (w.var(0).sum() / len(w)).sqrt()  # expected norm of (mean of 1000 - w_avg)
    assert (w.mean(0) - mobile.w_avg).norm() < 3 * sampling_error


def test_ir_reader_rejects_truncated_and_non_ir(tmp_path):
    data = random_face_data_dir()
    xml = tmp_path / "MappingNetwork.xml"
    xml.write_bytes((data / "MappingNetwork.xml").read_bytes())
    (tmp_path / "MappingNetwork.bin").write_bytes((data / "MappingNetwork.bin").read_bytes()[:1000])
    with pytest.raises(IRFormatError, match="truncated"):
        read_ir(xml)
    bad = tmp_path / "bad.xml"
    bad.write_text("<html></html>")
    with pytest.raises(IRFormatError, match="not an OpenVINO IR"):
        read_ir(bad)
