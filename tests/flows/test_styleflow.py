"""StyleFlow on tiny configs: invertibility, the log-density against a known answer, edits,
save/load, and a few training steps that lower the NLL."""

from __future__ import annotations

import math

import pytest
import torch

from stylelab.flows import (
    FlowConfig,
    FlowUnavailable,
    StyleFlow,
    flow_edit,
    load_flow,
    load_flow_file,
    save_flow,
)

pytest.importorskip("torchdiffeq")
TINY = FlowConfig(w_dim=6, attributes=("age", "yaw"), hidden=16, blocks=3, train_steps=4,
                  rtol=1e-7, atol=1e-7)


def tiny_flow(seed: int = 0) -> StyleFlow:
    torch.manual_seed(seed)
    stats = {"w_mean": torch.randn(6), "w_std": torch.rand(6) + 0.5,
             "a_mean": torch.tensor([40.0, 0.0]), "a_std": torch.tensor([15.0, 20.0])}
    flow = StyleFlow(TINY, stats)
    with torch.no_grad():  # a non-trivial velocity field
        for p in flow.func.parameters():
            p.mul_(3.0)
    return flow


def test_to_z_and_back_is_the_identity():
    flow = tiny_flow()
    w = torch.randn(5, 6)
    attrs = {"age": torch.tensor([20.0, 30, 40, 50, 60]), "yaw": 10.0}
    z = flow.to_z(w, attrs)
    assert not torch.allclose(z, (w - flow.w_mean) / flow.w_std, atol=1e-2)  # it moves
    assert torch.allclose(flow.to_w(z, attrs), w, atol=1e-4)


def test_log_prob_matches_the_exact_change_of_variables():
    """With every probe averaged (many draws), Hutchinson's estimate converges to the exact
    trace; compare with log N(z) + log|det dz/dx| from autograd's full Jacobian."""
    flow = tiny_flow()
    w = torch.randn(1, 6)
    attrs = {"age": 35.0, "yaw": -5.0}
    x = ((w - flow.w_mean) / flow.w_std)[0]

    def fwd(v):
        return flow._solve((v[None], flow.attribute_tensor(attrs)), 0.0, 1.0, train=True)[0][0]

    jac = torch.autograd.functional.jacobian(fwd, x)
    z = fwd(x)
    exact = -0.5 * (z.square().sum() + 6 * math.log(2 * math.pi)) + torch.logdet(jac)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        estimates = torch.stack([flow.log_prob(w, attrs, generator=gen)[0]
                                 for _ in range(300)])
    assert float(estimates.mean()) == pytest.approx(float(exact), abs=0.15)


def test_edit_keeps_unchanged_faces_and_moves_changed_ones():
    flow = tiny_flow()
    w = torch.randn(1, 4, 6)  # W+: every layer code is edited as a sample
    now = {"age": 30.0, "yaw": 0.0}
    same = flow_edit(flow, w, now, {"age": 30.0})
    assert torch.allclose(same.latent, w, atol=1e-4) and same.changed == []
    older = flow_edit(flow, w, now, {"age": 70.0}, layers=[0, 1])
    assert older.changed == ["age"] and older.target == {"age": 70.0, "yaw": 0.0}
    assert not torch.allclose(older.latent[:, :2], w[:, :2], atol=1e-3)
    assert torch.equal(older.latent[:, 2:], w[:, 2:])
    with pytest.raises(ValueError, match="unknown attributes"):
        flow_edit(flow, w, now, {"beard": 1.0})
    with pytest.raises(ValueError, match="missing attributes"):
        flow.to_z(w[:, 0], {"age": 30.0})
    with pytest.raises(ValueError, match="finite"):
        flow.to_z(w[:, 0], {"age": float("nan"), "yaw": 0.0})


def test_save_load_round_trip_and_registry(tmp_path, monkeypatch):
    flow = tiny_flow()
    path = save_flow(flow, tmp_path / "flows" / "tiny-test" / "styleflow.safetensors",
                     "tiny-test", {"steps": 3})
    back = load_flow_file(path, "tiny-test")
    w = torch.randn(2, 6)
    attrs = {"age": 50.0, "yaw": 5.0}
    assert torch.allclose(back.to_z(w, attrs), flow.to_z(w, attrs), atol=5e-2)
    with pytest.raises(ValueError, match="trained for tiny-test"):
        load_flow_file(path, "mobilestylegan-ffhq")
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    assert load_flow("tiny-test").config == TINY
    with pytest.raises(FlowUnavailable, match="train_styleflow.py --model other"):
        load_flow("other")


def test_training_steps_lower_the_nll():
    """Data whose mean depends on the attribute: a few Adam steps fit it."""
    torch.manual_seed(1)
    flow = StyleFlow(FlowConfig(w_dim=4, attributes=("age",), hidden=16, blocks=2,
                                train_steps=2))
    ages = torch.rand(256) * 2 - 1
    w = torch.randn(256, 4) * 0.3 + ages[:, None] * 2.0
    opt = torch.optim.Adam(flow.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)

    def nll():
        return -flow.log_prob(w, {"age": ages}, generator=gen).mean()

    start = float(nll())
    for _ in range(60):
        loss = nll()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(nll()) < start - 1.0


def test_training_script_tiny_trains_exports_and_resumes(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "STYLELAB_CACHE": str(tmp_path), "TQDM_DISABLE": "1"}

    def run(*args: str) -> str:
        proc = subprocess.run([sys.executable, "training/train_styleflow.py", "--tiny",
                               "--threads", "1", "--device", "cpu", *args], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    assert "steps: 10 (10 this sitting)" in run()
    assert "resuming from step 10" in run("--epochs", "3")
    info = json.loads((tmp_path / "flows" / "tiny-test" / "styleflow.json").read_text())
    assert info["steps"] == 15 and info["generator"] == "tiny-test"
    assert info["metrics"]["heldout_nll_nats_per_dim"] > 0 and "--tiny" in info["command"]
    assert load_flow_file(tmp_path / "flows" / "tiny-test" / "styleflow.safetensors",
                          "tiny-test").config.hidden == 16
