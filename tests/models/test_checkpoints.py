"""Checkpoint loaders: rosinality and NVIDIA round trips, the restricted unpickler, errors."""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import pickle
import subprocess
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from nvidia_helpers import (
    Persistent,
    fake_nvidia_modules,
    nvidia_tree,
    write_nvidia_pkl,
)
from sg2_helpers import TINY, randomize

from stylelab.models.checkpoints import (
    CheckpointFormatError,
    PersistentRecord,
    UnsafeCheckpointError,
    load_nvidia_pkl,
    load_rosinality,
    nvidia_state_dict,
    read_nvidia_pkl,
    rosinality_state_dict,
    save_rosinality,
)
from stylelab.models.stylegan2 import StyleGAN2


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(3)
    return randomize(StyleGAN2(TINY), seed=3)


@pytest.fixture
def wp(G):
    gen = torch.Generator().manual_seed(5)
    w = G.map(torch.randn(2, G.z_dim, generator=gen))
    return G.to_wplus(w) + 0.2 * torch.randn(2, G.num_ws, G.w_dim, generator=gen)


def assert_same_generator(A: StyleGAN2, B: StyleGAN2, wp: torch.Tensor) -> None:
    assert A.config == B.config
    sa, sb = A.state_dict(), B.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    with torch.no_grad():
        torch.testing.assert_close(A.synthesis(wp), B.synthesis(wp), atol=1e-6, rtol=0)
        z = torch.randn(2, A.z_dim)
        torch.testing.assert_close(A.map(z, 0.7), B.map(z, 0.7), atol=1e-6, rtol=0)


# ------------------------------------------------------------------ rosinality
def rosinality_reference(sd: dict, z: torch.Tensor, n_blocks: int, n_mlp: int) -> torch.Tensor:
    """rosinality's Generator forward (const noise, psi = 1), written directly on its keys."""
    def linear(x, p, lr_mul=1.0, act=False):
        w, b = sd[p + ".weight"], sd[p + ".bias"] * lr_mul
        out = F.linear(x, w * lr_mul / math.sqrt(w.shape[1]))
        return F.leaky_relu(out + b, 0.2) * math.sqrt(2) if act else out + b

    def fir(x, kernel, pad, up=1):
        n, c, h, w = x.shape
        if up == 2:
            x = F.pad(x.view(n, c, h, 1, w, 1), [0, 1, 0, 0, 0, 1]).view(n, c, 2 * h, 2 * w)
        x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
        return F.conv2d(x, kernel.flip(0, 1)[None, None].repeat(c, 1, 1, 1), groups=c)

    def modconv(x, p, latent, demod=True, up=False):  # the fused (grouped) form
        weight = sd[p + ".conv.weight"]
        n, i, h, w = x.shape
        o, k = weight.shape[1], weight.shape[-1]
        s = linear(latent, p + ".conv.modulation").view(n, 1, i, 1, 1)
        wt = weight / math.sqrt(i * k * k) * s
        if demod:
            wt = wt * torch.rsqrt(wt.pow(2).sum([2, 3, 4]) + 1e-8).view(n, o, 1, 1, 1)
        if not up:
            out = F.conv2d(x.reshape(1, n * i, h, w), wt.reshape(n * o, i, k, k),
                           padding=k // 2, groups=n)
            return out.view(n, o, h, w)
        wt = wt.transpose(1, 2).reshape(n * i, o, k, k)
        out = F.conv_transpose2d(x.reshape(1, n * i, h, w), wt, stride=2, groups=n)
        return fir(out.view(n, o, *out.shape[2:]), sd[p + ".conv.blur.kernel"], (1, 1))

    def styled(x, p, latent, noise, up=False):
        out = modconv(x, p, latent, up=up) + sd[p + ".noise.weight"] * noise
        return F.leaky_relu(out + sd[p + ".activate.bias"].view(1, -1, 1, 1), 0.2) * math.sqrt(2)

    def to_rgb(x, p, latent, skip=None):
        out = modconv(x, p, latent, demod=False) + sd[p + ".bias"]
        return out if skip is None else out + fir(skip, sd[p + ".upsample.kernel"], (2, 1), up=2)

    w = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        w = linear(w, f"style.{i}", lr_mul=0.01, act=True)
    x = styled(sd["input.input"].repeat(len(z), 1, 1, 1), "conv1", w, sd["noises.noise_0"])
    skip = to_rgb(x, "to_rgb1", w)
    for k in range(n_blocks):
        x = styled(x, f"convs.{2 * k}", w, sd[f"noises.noise_{2 * k + 1}"], up=True)
        x = styled(x, f"convs.{2 * k + 1}", w, sd[f"noises.noise_{2 * k + 2}"])
        skip = to_rgb(x, f"to_rgbs.{k}", w, skip)
    return skip


def test_rosinality_key_layout(G):
    sd = rosinality_state_dict(G)
    expected = {"latent_avg", "input.input", "to_rgb1.bias", "to_rgb1.conv.weight",
                "conv1.conv.weight", "conv1.noise.weight", "conv1.activate.bias"}
    expected |= {f"style.{i}.{p}" for i in (1, 2) for p in ("weight", "bias")}
    expected |= {f"{m}.conv.modulation.{p}" for m in ["conv1", "to_rgb1"]
                 + [f"convs.{i}" for i in range(6)] + [f"to_rgbs.{i}" for i in range(3)]
                 for p in ("weight", "bias")}
    expected |= {f"convs.{i}.{p}" for i in range(6)
                 for p in ("conv.weight", "noise.weight", "activate.bias")}
    expected |= {f"convs.{i}.conv.blur.kernel" for i in (0, 2, 4)}
    expected |= {f"to_rgbs.{i}.{p}" for i in range(3)
                 for p in ("conv.weight", "bias", "upsample.kernel")}
    expected |= {f"noises.noise_{i}" for i in range(7)}
    assert set(sd) == expected
    shapes = {"conv1.conv.weight": (1, 32, 32, 3, 3), "convs.4.conv.weight": (1, 16, 32, 3, 3),
              "convs.4.conv.modulation.weight": (32, 32), "to_rgbs.2.conv.weight": (1, 3, 16, 1, 1),
              "to_rgbs.2.bias": (1, 3, 1, 1), "noises.noise_6": (1, 1, 32, 32),
              "noises.noise_1": (1, 1, 8, 8), "conv1.noise.weight": (1,),
              "input.input": (1, 32, 4, 4)}
    assert {k: tuple(sd[k].shape) for k in shapes} == shapes


@torch.no_grad()
def test_matches_rosinality_reference_forward(G):
    z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(7))
    ref = rosinality_reference(rosinality_state_dict(G), z, n_blocks=3, n_mlp=2)
    torch.testing.assert_close(G(z), ref, atol=1e-5, rtol=1e-5)


def test_rosinality_round_trip(G, wp, tmp_path):
    path = tmp_path / "g.pt"
    save_rosinality(G, path)
    loaded = load_rosinality(path)
    assert not loaded.training
    assert_same_generator(G, loaded, wp)
    ckpt = torch.load(path, weights_only=True)
    assert set(ckpt) == {"g_ema", "latent_avg"}
    ckpt["args"] = argparse.Namespace(size=32, channel_multiplier=2)  # as rosinality's train.py
    torch.save(ckpt, path)
    assert_same_generator(G, load_rosinality(path), wp)


def test_rosinality_loader_refuses_plain_pickles(G, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(f"cos\nsystem\n(Vtouch {marker}\ntR.".encode())
    with pytest.raises(CheckpointFormatError, match="weights_only"):
        load_rosinality(path)
    assert not marker.exists()


def test_rosinality_bare_state_dict_estimates_w_avg(G, wp):
    sd = rosinality_state_dict(G)
    del sd["latent_avg"]
    loaded = load_rosinality(sd, w_avg_samples=4000)
    with torch.no_grad():
        torch.testing.assert_close(loaded.synthesis(wp), G.synthesis(wp), atol=1e-6, rtol=0)
        mean = G.mapping(torch.randn(4000, G.z_dim)).mean(0)
    assert (loaded.w_avg - mean).abs().max() < 0.15 * mean.abs().max()


def test_rosinality_explicit_config_and_missing_keys(G):
    sd = rosinality_state_dict(G)
    bigger = dataclasses.replace(TINY, resolution=64)
    with pytest.raises(CheckpointFormatError, match=r"convs\.6\.conv\.weight") as e:
        load_rosinality(sd, bigger)
    assert "missing" in str(e.value) and "rosinality" in str(e.value)
    for key in ("conv1.noise.weight", "to_rgbs.1.conv.modulation.bias"):
        broken = {k: v for k, v in sd.items() if k != key}
        with pytest.raises(CheckpointFormatError, match=key.replace(".", r"\.")):
            load_rosinality(broken)


def test_wrong_format_names_detected_format(G):
    with pytest.raises(CheckpointFormatError, match="NVIDIA") as e:
        load_rosinality(nvidia_state_dict(G))
    assert "style.1.weight" in str(e.value)
    with pytest.raises(CheckpointFormatError, match="stylelab"):
        load_rosinality(G.state_dict())
    sd = rosinality_state_dict(G)
    sd["convs.0.conv.weight"] = sd["convs.0.conv.weight"][:, :8]
    with pytest.raises(CheckpointFormatError, match="shape"):
        load_rosinality(sd, TINY)


# --------------------------------------------------------- NVIDIA pkl writer
@pytest.fixture
def nvidia_modules(monkeypatch):
    """Fake ``torch_utils.persistence`` and ``dnnlib`` so pickles name NVIDIA's real globals."""
    return fake_nvidia_modules(monkeypatch)


# ------------------------------------------------------------ NVIDIA tests
@pytest.mark.parametrize("protocol", [2, 4])  # NVIDIA's pickles: 3 or 4; 2 exercises _codecs, set
def test_nvidia_pkl_round_trip(wp, nvidia_modules, tmp_path, protocol):
    torch.manual_seed(11)
    G = randomize(StyleGAN2(dataclasses.replace(TINY, conv_clamp=256.0)), seed=11)
    path = tmp_path / "network-snapshot.pkl"
    write_nvidia_pkl(G, path, nvidia_modules, protocol=protocol)
    for name in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util"):
        sys.modules.pop(name)  # the loader must not need them
    loaded = load_nvidia_pkl(path)
    assert not loaded.training
    assert loaded.config.conv_clamp == 256.0 and loaded.config.lr_mlp == 0.01
    assert_same_generator(G, loaded, wp)


def test_nvidia_key_names(G):
    sd = nvidia_state_dict(G)
    assert sd["synthesis.b4.const"].shape == (32, 4, 4)
    assert torch.equal(sd["synthesis.b4.conv1.noise_const"], G.conv1.noise_const)
    assert torch.equal(sd["synthesis.b8.conv0.noise_const"], G.blocks[0].conv0.noise_const)
    assert torch.equal(sd["synthesis.b16.conv1.affine.weight"], G.affines["16_conv1"].weight)
    assert torch.equal(sd["synthesis.b4.torgb.affine.bias"], G.affines["to_rgb1"].bias)
    assert torch.equal(sd["synthesis.b32.torgb.weight"], G.blocks[2].to_rgb.weight)
    assert torch.equal(sd["mapping.fc1.weight"], G.mapping.layers[1].weight)
    assert sd["synthesis.b32.conv0.weight"].shape == (16, 32, 3, 3)
    assert sd["mapping.w_avg"].shape == (32,) and "synthesis.b8.resample_filter" in sd


def test_module_source_is_never_executed(G, nvidia_modules, tmp_path):
    marker = tmp_path / "pwned"
    src = f"import os\nos.system('touch {marker}')\nopen({str(marker)!r}, 'w').close()\n"
    path = tmp_path / "g.pkl"
    write_nvidia_pkl(G, path, nvidia_modules, module_src=src)
    data = read_nvidia_pkl(path)
    assert isinstance(data["G_ema"], PersistentRecord) and data["G_ema"].class_name == "Generator"
    assert data["G_ema"].attr("synthesis.b4.conv1.conv_clamp", "absent") is None
    load_nvidia_pkl(path)
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["os.system", "subprocess.Popen", "builtins.eval"])
def test_unsafe_globals_are_refused_without_running(kind, tmp_path):
    marker = tmp_path / "pwned"
    module, name = kind.split(".")
    arg = f"open({str(marker)!r}, 'w')" if name == "eval" else f"touch {marker}"
    payload = f"c{module}\n{name}\n(V{arg}\ntR.".encode()  # protocol 0: module.name(arg)
    path = tmp_path / "evil.pkl"
    path.write_bytes(payload)
    with pytest.raises(UnsafeCheckpointError, match=rf"refused global {module}\.{name}"):
        load_nvidia_pkl(path)
    assert not marker.exists()


def test_unsafe_global_nested_in_network_state(G, nvidia_modules, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return subprocess.Popen, (["touch", str(marker)],)

    tree = nvidia_tree(G, nvidia_modules)
    tree.state["_init_kwargs"]["hook"] = Evil()
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": tree}))
    with pytest.raises(UnsafeCheckpointError, match=r"subprocess\.Popen"):
        load_nvidia_pkl(path)
    assert not marker.exists()


def test_network_classes_by_reference_become_records(monkeypatch, tmp_path):
    module = types.ModuleType("training.networks")
    gen_class = type("Generator", (), {"__module__": "training.networks"})
    module.Generator = gen_class
    monkeypatch.setitem(sys.modules, "training.networks", module)
    obj = gen_class()
    obj.z_dim = 7
    blob = pickle.dumps({"G_ema": obj})
    monkeypatch.delitem(sys.modules, "training.networks")
    record = read_nvidia_pkl(io.BytesIO(blob))["G_ema"]
    assert isinstance(record, PersistentRecord) and record.class_name == "Generator"
    assert record.attr("z_dim") == 7


def test_nvidia_format_errors(G, nvidia_modules, tmp_path):
    rosinality_file = tmp_path / "g.pt"
    save_rosinality(G, rosinality_file)
    with pytest.raises(CheckpointFormatError, match="zip"):
        load_nvidia_pkl(rosinality_file)
    tree = nvidia_tree(G, nvidia_modules)
    synthesis = tree.state["_modules"]["synthesis"]
    del synthesis.state["_modules"]["b16"].state["_modules"]["conv1"].state["_parameters"]["weight"]
    path = tmp_path / "broken.pkl"
    path.write_bytes(pickle.dumps({"G_ema": tree}))
    with pytest.raises(CheckpointFormatError, match=r"synthesis\.b16\.conv1\.weight") as e:
        load_nvidia_pkl(path)
    assert "NVIDIA" in str(e.value)
    affine = Persistent(nvidia_modules.reconstruct, "FullyConnectedLayer",
                        {"_parameters": {"weight": torch.nn.Parameter(torch.zeros(4, 32))}})
    synthesis.state["_modules"]["input"] = Persistent(
        nvidia_modules.reconstruct, "SynthesisInput", {"_modules": {"affine": affine}})
    path.write_bytes(pickle.dumps({"G_ema": tree}))
    with pytest.raises(CheckpointFormatError, match="StyleGAN3"):
        load_nvidia_pkl(path)
    path.write_bytes(pickle.dumps({"G": 1}))
    with pytest.raises(CheckpointFormatError, match="G_ema"):
        load_nvidia_pkl(path)


# ------------------------------------------------- registry: hub download path
def _fake_hub_cache(root, repo_id: str, filename: str, src) -> None:
    """Lay a file out the way huggingface_hub caches a past download."""
    repo = root / f"models--{repo_id.replace('/', '--')}"
    target = repo / "snapshots" / ("0" * 40) / filename
    target.parent.mkdir(parents=True)
    target.write_bytes(src.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)


def test_registry_hub_model_offline_from_local_cache(wp, nvidia_modules, tmp_path, monkeypatch):
    """load_generator for a hub spec: hf_hub_download (offline, local hub cache), sha256 check,
    restricted unpickling, then a checked safetensors cache used on the next load."""
    import hashlib

    from stylelab import load_generator, registry
    from stylelab.cache import CacheError

    torch.manual_seed(5)
    G = randomize(StyleGAN2(TINY), seed=5)
    pkl = tmp_path / "tiny.pkl"
    write_nvidia_pkl(G, pkl, nvidia_modules)
    hub = tmp_path / "hub"
    _fake_hub_cache(hub, "org/stylegan2", "models/tiny.pkl", pkl)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path / "cache"))
    digest = hashlib.sha256(pkl.read_bytes()).hexdigest()
    spec = dataclasses.replace(registry.get_spec("stylegan2-ffhq-256"), name="hub-tiny",
                               repo_id="org/stylegan2", filename="models/tiny.pkl", sha256="0" * 64)
    monkeypatch.setitem(registry.REGISTRY, "hub-tiny", spec)
    with pytest.raises(CacheError, match="sha256"):
        load_generator("hub-tiny")
    _fake_hub_cache(tmp_path / "hub2", "org/stylegan2", "models/tiny.pkl", pkl)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub2"))
    monkeypatch.setitem(registry.REGISTRY, "hub-tiny", dataclasses.replace(spec, sha256=digest))
    assert_same_generator(G, load_generator("hub-tiny"), wp)
    assert (tmp_path / "cache" / "hub-tiny.safetensors").exists()
    pkl.unlink()
    for f in (tmp_path / "hub2").rglob("tiny.pkl"):
        f.unlink()  # the second load must come from the safetensors cache alone
    assert_same_generator(G, load_generator("hub-tiny"), wp)
