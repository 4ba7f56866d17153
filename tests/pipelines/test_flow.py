"""FlowPipeline plumbing on tiny models (measures replaced by a known function of the image),
and `stylelab flow-edit` input checks."""

from __future__ import annotations

import pytest
import torch

from stylelab.cli import main, parse_settings
from stylelab.flows import FlowConfig, StyleFlow, save_flow
from stylelab.pipelines.flow import FlowPipeline, summary

pytest.importorskip("torchdiffeq")
ATTRS = ("age", "yaw")


class MeasuredByPixels(FlowPipeline):
    """"age" = 40 + 20 x mean red, "yaw" = 10 x mean green: a known measure of the image."""

    def measure(self, images):
        return [{"age": 40 + 20 * float(im[0].mean()), "yaw": 10 * float(im[1].mean())}
                for im in images]


@pytest.fixture(scope="module")
def flow(tiny):
    torch.manual_seed(0)
    stats = {"w_mean": torch.zeros(tiny.w_dim), "w_std": torch.ones(tiny.w_dim),
             "a_mean": torch.tensor([40.0, 0.0]), "a_std": torch.tensor([15.0, 10.0])}
    f = StyleFlow(FlowConfig(w_dim=tiny.w_dim, attributes=ATTRS, hidden=16, blocks=2), stats)
    with torch.no_grad():
        for p in f.func.parameters():
            p.mul_(3.0)
    return f.eval()


def test_edit_measures_sets_and_reports(tiny, flow):
    pipe = MeasuredByPixels(tiny, flow, size=64)
    w = tiny.sample_w(1, seed=3)
    result = pipe.edit(w, {"age": 70})
    assert result.requested["age"] == 70.0 and result.requested["yaw"] == result.current["yaw"]
    assert result.before.shape == result.after.shape == (1, 3, 64, 64)
    assert not torch.allclose(result.latent, w)
    assert result.identity is None  # 64 px: too small for the identity net
    record = summary(result)
    assert set(record) >= {"requested", "measured_before", "measured_after", "identity"}
    same = pipe.edit(w, {"age": result.current["age"]})
    assert torch.allclose(same.latent, w, atol=1e-3)


@pytest.mark.parametrize(("changes", "message"), [
    ({"beard": 1.0}, "unknown attribute 'beard'"),
    ({"yaw": float("nan")}, "yaw must be a finite number"),
    ({}, "nothing to change"),
])
def test_bad_requests_say_what_is_allowed(tiny, flow, changes, message):
    with pytest.raises(ValueError, match=message):
        MeasuredByPixels(tiny, flow, size=64).edit(tiny.sample_w(1, seed=0), changes)


def test_out_of_range_values_are_clamped_and_said(tiny, flow):
    result = MeasuredByPixels(tiny, flow, size=64).edit(tiny.sample_w(1, seed=0), {"age": 500})
    assert result.requested["age"] == pytest.approx(100.0)  # 40 + 4 spreads of 15
    assert any("age 500 is outside" in n and "clamped to 100" in n for n in result.notes)


def test_unmeasurable_face_is_refused(tiny, flow):
    class NoFace(FlowPipeline):
        def measure(self, images):
            return [{"age": float("nan"), "yaw": 0.0}]

    with pytest.raises(ValueError, match="could not measure age"):
        NoFace(tiny, flow, size=64).edit(tiny.sample_w(1, seed=0), {"yaw": 5})


def test_cli_settings_and_missing_flow(tmp_path, capsys, monkeypatch, tiny, flow):
    assert parse_settings("age=60, yaw=-20") == {"age": 60.0, "yaw": -20.0}
    for bad in ("age", "age=old", "=3", ",", "age=inf"):
        with pytest.raises(ValueError, match="name=value"):
            parse_settings(bad)
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path / "cache"))
    args = ["flow-edit", "--model", "tiny-test", "--input", "seed:1", "--set", "age=50"]
    assert main([*args, "--out", str(tmp_path / "o")]) == 2
    assert "train_styleflow.py --model tiny-test" in capsys.readouterr().err
    save_flow(flow, tmp_path / "cache" / "flows" / "tiny-test" / "styleflow.safetensors",
              "tiny-test")
    assert main([*args[:-1], "beard=1", "--out", str(tmp_path / "o")]) == 2
    assert "unknown attribute 'beard'" in capsys.readouterr().err


def test_set_values_moves_only_what_differs_from_the_measures(tiny, flow):
    pipe = MeasuredByPixels(tiny, flow, size=64)
    w = tiny.sample_w(1, seed=3)
    now = pipe.measure(pipe.render(w))[0]
    result = pipe.set_values(w, {"age": 65.0, "yaw": now["yaw"]})
    assert result.requested == {"age": 65.0, "yaw": now["yaw"]} and result.current == now
    with pytest.raises(ValueError, match="every slider is at the face's measured value"):
        pipe.set_values(w, now)


def test_an_edit_inside_a_mask_leaves_the_outside_unchanged(tiny, flow):
    pipe = MeasuredByPixels(tiny, flow, size=64)
    w = tiny.sample_w(1, seed=3)
    mask = torch.zeros(64, 64)
    mask[16:48, 16:48] = 1.0
    whole = pipe.set_values(w, {"age": 65.0, "yaw": 0.0})
    inside = pipe.set_values(w, {"age": 65.0, "yaw": 0.0}, mask=mask)
    far = torch.ones(64, 64, dtype=torch.bool)  # beyond the mask's feathered edge
    far[8:56, 8:56] = False
    far = far[None, None].expand_as(inside.after)
    assert torch.equal(inside.after[far], inside.before[far])
    assert not torch.equal(whole.after[far], whole.before[far])  # unmasked, it changes there
    centre = (inside.after - inside.before)[..., 24:40, 24:40]
    assert centre.abs().mean() > 0.01
    assert torch.equal(inside.latent, whole.latent)  # the same edit, only shown inside
    assert any("inside the mask" in n for n in inside.notes)
