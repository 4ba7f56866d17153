"""Pivotal Tuning Inversion on the tiny generator, plus one real-model run."""

from __future__ import annotations

import pytest
import torch

import stylelab
from stylelab.inversion import InversionResult, OptimizeConfig, PTIConfig, invert_pti
from stylelab.inversion.pti import locality_codes, param_groups, tunable_parameters

PIVOT = OptimizeConfig(space="w", size=32, steps=30)
PIVOT_STEPS_REAL, TUNE_STEPS_REAL, PTI_GAIN_REAL = 40, 25, 2.0  # measured gain 4.3-6.2 dB, ~20 s


@pytest.fixture(scope="module")
def target(tiny):
    """A generated face with a smooth colour cast: not exactly reachable in W."""
    w = tiny.map(stylelab.z_from_seeds([4], tiny.z_dim), 0.7)
    img = tiny.synthesis(w, size=32)
    ramp = torch.linspace(-0.3, 0.3, 32).view(1, 1, 1, 32)
    return (img + ramp * torch.tensor([1.0, -1.0, 0.5]).view(1, 3, 1, 1)).clamp(-1, 1)


@pytest.fixture(scope="module")
def result(tiny, target):
    return invert_pti(tiny, target, PTIConfig(pivot=PIVOT, tune_steps=40, tune_lr=1e-2),
                      progress=False)


def test_pti_improves_over_its_pivot(result, tiny):
    assert result.method == "pti" and result.space == "w"
    assert result.latent.shape == (1, tiny.w_dim)
    assert result.metrics["psnr"] > result.metrics["pivot_psnr"] + 1.0
    phases = [h["phase"] for h in result.history]
    assert phases.count("tune") == 40 and phases[0] == "pivot"
    assert "locality" in result.history[-1]


def test_pti_does_not_mutate_the_generator(tiny, target):
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    invert_pti(tiny, target, PTIConfig(pivot=PIVOT, tune_steps=3), progress=False)
    assert all(torch.equal(before[k], v) for k, v in tiny.state_dict().items())
    assert not any(p.requires_grad for p in tiny.parameters())


def test_delta_holds_only_changed_synthesis_parameters(result, tiny):
    delta = result.generator_delta
    params = dict(tiny.named_parameters())
    assert delta and set(delta) <= set(tunable_parameters(tiny))
    assert not any(name.startswith("mapping.") for name in delta)
    assert all(d.shape == params[n].shape and d.abs().max() > 0 for n, d in delta.items())
    assert "to_img.bias" not in delta  # 32px uses the early-exit head: the 64px head is untouched


def test_apply_delta_reproduces_the_reconstruction(result, tiny):
    tuned = result.apply_delta(tiny)
    assert tuned is not tiny and not any(p.requires_grad for p in tuned.parameters())
    with torch.no_grad():
        image = tuned.synthesis(result.latent, size=32)
    torch.testing.assert_close(image, result.reconstruction, atol=1e-5, rtol=0)
    untouched = tiny.synthesis(result.latent, size=32)
    assert (untouched - result.reconstruction).abs().max() > 1e-3


def test_save_load_round_trip_with_delta(result, tiny, tmp_path):
    result.save(tmp_path / "exact", delta_dtype=torch.float32)
    back = InversionResult.load(tmp_path / "exact")
    assert back.method == "pti" and set(back.generator_delta) == set(result.generator_delta)
    for name, d in result.generator_delta.items():
        torch.testing.assert_close(back.generator_delta[name], d, rtol=0, atol=0)
    torch.testing.assert_close(back.synthesize(tiny), result.reconstruction, atol=1e-5, rtol=0)
    assert back.metrics["pivot_psnr"] == result.metrics["pivot_psnr"]


def test_default_save_stores_float16_deltas(result, tiny, tmp_path):
    result.save(tmp_path / "half")
    back = InversionResult.load(tmp_path / "half")
    assert all(d.dtype == torch.float32 for d in back.generator_delta.values())
    torch.testing.assert_close(back.synthesize(tiny), result.reconstruction, atol=2e-3, rtol=0)
    exact = result.save(tmp_path / "full", delta_dtype=torch.float32) / "latents.safetensors"
    assert (tmp_path / "half" / "latents.safetensors").stat().st_size < exact.stat().st_size


def test_no_tuning_steps_gives_the_pivot(tiny, target):
    r = invert_pti(tiny, target, PTIConfig(pivot=PIVOT, tune_steps=0), progress=False)
    assert r.generator_delta == {}
    assert r.metrics["psnr"] == pytest.approx(r.metrics["pivot_psnr"])


def test_config_checks():
    with pytest.raises(ValueError, match="pivot"):
        PTIConfig(pivot=OptimizeConfig(space="w+"))
    with pytest.raises(ValueError, match="lr_scale"):
        PTIConfig(lr_scale="adaptive")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        PTIConfig(pivot=OptimizeConfig(space="w", steps=0))


def test_locality_codes_lie_at_the_radius(tiny):
    pivot = tiny.w_avg[None] + 0.1
    cfg = PTIConfig(locality_radius=3.0, locality_samples=4)
    codes = locality_codes(tiny, pivot, cfg, torch.Generator().manual_seed(0))
    assert codes.shape == (4, tiny.w_dim)
    dist = (tiny.to_wplus(codes) - tiny.to_wplus(pivot)).flatten(1).norm(dim=1)
    torch.testing.assert_close(dist, torch.full((4,), 3.0))


def test_rms_learning_rate_scaling(tiny):
    params = {"conv.weight": torch.nn.Parameter(torch.full((4, 2), 0.5)),
              "affines.x.bias": torch.nn.Parameter(torch.full((4,), 4.0)),
              "conv.bias": torch.nn.Parameter(torch.full((4,), 3.0)),
              "head.weight": torch.nn.Parameter(torch.zeros(3, 2))}
    groups = param_groups(params, 1e-3, "rms")
    assert [g["lr"] for g in groups] == pytest.approx([5e-4, 4e-3, 1e-3, 1e-3])
    assert param_groups(params, 1e-3, "none")[0]["lr"] == 1e-3


@pytest.mark.weights
def test_real_face_pti_improves_on_its_pivot(mobile):
    w = mobile.map(stylelab.z_from_seeds([1], mobile.z_dim), 0.7)
    img = mobile.synthesis(w, size=256)
    cfg = PTIConfig(pivot=OptimizeConfig(space="w", steps=PIVOT_STEPS_REAL), tune_steps=TUNE_STEPS_REAL)
    r = invert_pti(mobile, img, cfg, progress=False)
    assert r.metrics["psnr"] >= r.metrics["pivot_psnr"] + PTI_GAIN_REAL
    assert r.metrics["psnr"] >= 27.0 and r.generator_delta
