"""face-api.js nets in PyTorch: TF.js reader, conversion, numerics against face-api.js, semantics.

The golden numbers below are face-api.js 0.22.2's own outputs (npm ``face-api.js``
with its bundled ``@tensorflow/tfjs-core`` CPU backend, in Node 20) for the
112x112 inputs of :func:`_pattern`, computed once with::

    const net = faceapi.nets.ageGenderNet; await net.loadFromDisk(dir)   // idem faceExpressionNet
    const input = new faceapi.NetInput(tf.unstack(tf.tensor4d(pixelsNHWC, [3, 112, 112, 3])), true)
    net.runNet(input)   // {age, gender logits}; faceExpressionNet.runNet(input): expression logits

Tests needing the face-api.js weights read them from ``$FACEAPI_WEIGHTS`` or
``../shared/weights/faceapi`` beside the project, and skip when neither exists.
"""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

from stylelab.cache import CacheError
from stylelab.faces.faceapi import (
    EXPRESSIONS,
    AgeGenderNet,
    FaceAttributes,
    FaceExpressionNet,
    TFJSFormatError,
    crop_ffhq_face,
    ffhq_face_box,
    load_net,
    read_tfjs_weights,
    tfjs_to_torch,
    to_net_input,
)
from stylelab.faces.faceapi import predict as predict_mod
from stylelab.faces.faceapi.nets import SeparableConv, pad_same

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def faceapi(faceapi_dir) -> FaceAttributes:
    return FaceAttributes.from_dir(faceapi_dir)


# --------------------------------------------------------------------- TF.js reader


def _write_model(folder: Path, groups: list[tuple[list[bytes], list[dict]]]) -> Path:
    """Write shards and a manifest; ``groups`` = [(shard byte strings, weight entries)]."""
    manifest = []
    for g, (shards, weights) in enumerate(groups):
        names = [f"m-group{g}-shard{i + 1}of{len(shards)}" for i in range(len(shards))]
        for name, data in zip(names, shards, strict=True):
            (folder / name).write_bytes(data)
        manifest.append({"paths": names, "weights": weights})
    path = folder / "m-weights_manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def _synthetic(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Group 0: uint8-quantized, float32, int32 over 3 shards (a tensor spans a boundary).

    Group 1: uint16-quantized and float16 tensors in one shard.
    """
    codes = np.arange(24, dtype=np.uint8).reshape(2, 3, 4) * 10
    floats = np.linspace(-1, 1, 5, dtype=np.float32)
    ints = np.array([7, -3], dtype=np.int32)
    blob = codes.tobytes() + floats.astype("<f4").tobytes() + ints.astype("<i4").tobytes()
    codes16 = np.array([0, 1000, 65535], dtype=np.uint16)
    halves = np.array([0.5, -2.25], dtype=np.float16)
    blob2 = codes16.astype("<u2").tobytes() + halves.astype("<f2").tobytes()
    path = _write_model(folder, [
        ([blob[:10], blob[10:30], blob[30:]], [
            {"name": "a/q", "shape": [2, 3, 4], "dtype": "float32",
             "quantization": {"dtype": "uint8", "scale": 0.5, "min": -3.0}},
            {"name": "a/f", "shape": [5], "dtype": "float32"},
            {"name": "a/i", "shape": [2], "dtype": "int32"},
        ]),
        ([blob2], [
            {"name": "b/q16", "shape": [3], "dtype": "float32",
             "quantization": {"dtype": "uint16", "scale": 0.01, "min": 1.0}},
            {"name": "b/h", "shape": [1, 2], "dtype": "float32", "quantization": {"dtype": "float16"}},
        ]),
    ])
    expected = {"a/q": codes.astype(np.float32) * 0.5 - 3.0, "a/f": floats, "a/i": ints,
                "b/q16": codes16 * 0.01 + 1.0, "b/h": halves.astype(np.float32).reshape(1, 2)}
    return path, expected


def test_tfjs_reader_quantized_float_and_multiple_shards(tmp_path):
    path, expected = _synthetic(tmp_path)
    weights = read_tfjs_weights(path)
    assert list(weights) == list(expected)
    for name, value in expected.items():
        assert weights[name].shape == value.shape, name
        assert weights[name].dtype == value.dtype or name != "a/i"
        np.testing.assert_allclose(weights[name], value, rtol=1e-6, err_msg=name)
    assert weights["a/q"].dtype == np.float32 and weights["a/i"].dtype == np.int32


def test_tfjs_reader_rejects_truncated_extra_missing_and_malformed(tmp_path):
    path, _ = _synthetic(tmp_path)
    last = tmp_path / "m-group0-shard3of3"
    good = last.read_bytes()
    last.write_bytes(good[:-3])
    with pytest.raises(TFJSFormatError, match="truncated"):
        read_tfjs_weights(path)
    last.write_bytes(good + b"\0\0")
    with pytest.raises(TFJSFormatError, match="corrupt"):
        read_tfjs_weights(path)
    last.unlink()
    with pytest.raises(TFJSFormatError, match="missing TF.js shard"):
        read_tfjs_weights(path)
    path.write_text("{not json")
    with pytest.raises(TFJSFormatError, match="not valid JSON"):
        read_tfjs_weights(path)
    path.write_text(json.dumps({"weights": []}))
    with pytest.raises(TFJSFormatError, match="not a TF.js weights manifest"):
        read_tfjs_weights(path)
    with pytest.raises(TFJSFormatError, match="no TF.js manifest"):
        read_tfjs_weights(tmp_path / "absent-weights_manifest.json")


def test_tfjs_reader_rejects_unknown_quantization(tmp_path):
    path = _write_model(tmp_path, [([b"\0" * 4], [
        {"name": "x", "shape": [4], "dtype": "float32", "quantization": {"dtype": "int4"}}])])
    with pytest.raises(TFJSFormatError, match="unsupported quantization"):
        read_tfjs_weights(path)


# --------------------------------------------------------------------- conversion and layers


def _tf_layout(net: torch.nn.Module) -> dict[str, np.ndarray]:
    """Random weights for ``net`` named and laid out as in face-api.js' manifests."""
    out = {}
    for key, value in net.state_dict().items():
        key = key.removeprefix("backbone.")
        parts = key.split(".")
        v = torch.randn_like(value)
        if parts[-2:] == ["depthwise", "weight"]:
            name, arr = "/".join(parts[:-2] + ["depthwise_filter"]), v.permute(2, 3, 0, 1)
        elif parts[-2:] == ["pointwise", "weight"]:
            name, arr = "/".join(parts[:-2] + ["pointwise_filter"]), v.permute(2, 3, 1, 0)
        elif parts[-1] == "weight" and v.ndim == 4:
            name, arr = "/".join(parts[:-1] + ["filters"]), v.permute(2, 3, 1, 0)
        elif parts[-1] == "weight":
            name, arr = "/".join(parts[:-1] + ["weights"]), v.t()
        else:
            name, arr = "/".join(parts), v
        out[name] = arr.numpy()
    return out


@pytest.mark.parametrize("cls", [AgeGenderNet, FaceExpressionNet])
def test_conversion_maps_every_tensor_and_fails_loudly(cls):
    net = cls()
    weights = _tf_layout(net)
    state = tfjs_to_torch(net, weights)
    net.load_state_dict(state)  # strict
    with pytest.raises(KeyError, match="unmapped TF.js tensors: \\['backbone.extra.bias'\\]"):
        tfjs_to_torch(net, {**weights, "extra/bias": np.zeros(3, np.float32)})
    dropped = next(iter(weights))
    with pytest.raises(KeyError, match="missing parameters"):
        tfjs_to_torch(net, {k: v for k, v in weights.items() if k != dropped})
    with pytest.raises(KeyError, match="no PyTorch mapping"):
        tfjs_to_torch(net, {**weights, "fc/odd": np.zeros((2, 2, 2), np.float32)})


def test_real_manifests_match_the_architectures(faceapi_dir):
    for cls, model in [(AgeGenderNet, "age_gender_model"), (FaceExpressionNet, "face_expression_model")]:
        net = cls()
        weights = read_tfjs_weights(faceapi_dir / f"{model}-weights_manifest.json")
        assert len(tfjs_to_torch(net, weights)) == len(net.state_dict()) == len(weights)


def test_pad_same_is_tensorflow_same():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    assert pad_same(x, 3, 2).shape[-2:] == (5, 5)  # 1 pixel, bottom/right only
    assert torch.equal(pad_same(x, 3, 2)[..., :4, :4], x)
    assert pad_same(x, 3, 1).shape[-2:] == (6, 6)  # symmetric
    assert pad_same(x, 1, 2) is x
    conv = SeparableConv(4, 8, stride=2)
    assert conv(torch.zeros(2, 4, 112, 112)).shape == (2, 8, 56, 56)


def test_to_net_input_pads_to_centred_square_and_resizes():
    crops = torch.ones(2, 3, 100, 81)  # white, width 19 short
    x = to_net_input(crops)
    assert x.shape == (2, 3, 112, 112)
    assert x.max() <= 255 and x.min() >= 0
    col = x[0, 0, 56]
    assert col[0] == 0 and col[-1] == 0 and col[56] == pytest.approx(255)
    assert to_net_input(torch.zeros(1, 3, 112, 112)).eq(127.5).all()
    with pytest.raises(ValueError):
        to_net_input(torch.zeros(3, 112, 112))


def test_ffhq_face_box_and_crop():
    assert ffhq_face_box(256) == (44, 72, 213, 241)
    left, top, right, bottom = ffhq_face_box(1024)
    assert right - left == bottom - top
    crop = crop_ffhq_face(torch.zeros(2, 3, 1024, 1024))
    assert crop.shape == (2, 3, bottom - top, right - left)
    with pytest.raises(ValueError):
        crop_ffhq_face(torch.zeros(2, 3, 256, 200))


# --------------------------------------------------------------------- against face-api.js


def _pattern(n: int = 3) -> torch.Tensor:
    """(n, 3, 112, 112) deterministic smooth patterns in pixel units [0, 255]."""
    i = torch.arange(112.0)
    c = torch.arange(3.0)[:, None, None]
    xs = []
    for k in range(n):
        v = torch.sin(0.05 * (k + 1) * (i[:, None] + 1) * (c + 1) + 0.03 * (k + 2) * i[None, :]) \
            * torch.cos(0.02 * (i[:, None] - 56) * (k + 1))
        xs.append(127.5 + 127.5 * v)
    return torch.stack(xs)


GOLDEN_AGE = [12.3159, 12.8351, 13.2685]
GOLDEN_GENDER = [[1.4913, -1.0267], [1.2193, -0.4985], [0.1965, -0.4899]]
GOLDEN_EXPRESSION = [
    [-4.9327, -3.8757, -0.7776, -6.0407, -10.9268, -7.1455, -13.1012],
    [-4.0983, -8.3308, -7.6334, -6.3538, -20.3026, -7.3491, -10.1477],
    [-7.0519, -7.3631, -3.2466, -5.4401, -12.6111, -7.0756, -9.0055],
]


@torch.inference_mode()
def test_matches_faceapi_js_outputs(faceapi):
    x = _pattern()
    age, gender = faceapi.net("age_gender")(x)
    expression = faceapi.net("expression")(x)
    torch.testing.assert_close(age, torch.tensor(GOLDEN_AGE), atol=2e-3, rtol=0)
    torch.testing.assert_close(gender, torch.tensor(GOLDEN_GENDER), atol=2e-3, rtol=0)
    torch.testing.assert_close(expression, torch.tensor(GOLDEN_EXPRESSION), atol=2e-3, rtol=0)


def test_predict_outputs_and_gradients(faceapi):
    images = (torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    images.requires_grad_(True)
    out = faceapi.predict(images, ffhq_aligned=True)
    assert out["age"].shape == (2,) and out["gender_male_prob"].shape == (2,)
    assert out["expressions"].shape == (2, len(EXPRESSIONS)) == (2, 7)
    torch.testing.assert_close(out["expressions"].sum(-1), torch.ones(2))
    loss = out["expressions"][:, EXPRESSIONS.index("happy")].sum() + out["age"].sum() / 100
    loss.backward()
    assert images.grad.abs().sum() > 0
    assert all(not p.requires_grad for p in faceapi.net("expression").parameters())
    only = faceapi.predict(images.detach(), nets=("expression",))
    assert set(only) == {"expressions", "expression_logits"}


# --------------------------------------------------------------------- weight sources


def _fake_download(folder: Path, calls: list[str]):
    def download(name: str, dest: Path, timeout: float = 30.0) -> None:
        calls.append(name)
        dest.write_bytes((folder / name).read_bytes())
    return download


def test_default_loading_converts_once_into_the_cache(faceapi_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    calls: list[str] = []
    monkeypatch.setattr(predict_mod, "_download", _fake_download(faceapi_dir, calls))
    net = FaceAttributes().net("expression")
    assert calls == ["face_expression_model-weights_manifest.json", "face_expression_model-shard1"]
    cached = tmp_path / "faceapi-face_expression_model.safetensors"
    assert cached.is_file() and cached.with_suffix(".sha256").is_file()
    again = load_net("expression")  # from the cache: no download
    assert len(calls) == 2
    x = _pattern(1)
    torch.testing.assert_close(net(x), again(x))
    data = bytearray(cached.read_bytes())  # corrupt -> rebuilt, never loaded
    data[-10] ^= 0xFF
    cached.write_bytes(bytes(data))
    load_net("expression")
    assert len(calls) == 4


def test_offline_error_lists_the_files(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(predict_mod.urllib.request, "urlopen", offline)
    with pytest.raises(CacheError, match="age_gender_model-shard1.*from_dir"):
        FaceAttributes().predict(torch.zeros(1, 3, 112, 112), nets=("age_gender",))
    with pytest.raises(CacheError, match="not a folder"):
        FaceAttributes.from_dir(tmp_path / "nope")


def test_from_dir_rejects_a_modified_file(faceapi_dir, tmp_path):
    for name in ("age_gender_model-weights_manifest.json", "age_gender_model-shard1"):
        (tmp_path / name).write_bytes((faceapi_dir / name).read_bytes())
    shard = tmp_path / "age_gender_model-shard1"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(TFJSFormatError, match="sha256"):
        load_net("age_gender", tmp_path)


# --------------------------------------------------------------------- on generated faces


# seeds 0-15 at psi 0.7, labelled by eye: F M M M F F F(child) F M F F M M M M M
MALE_BY_EYE = [0, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1]


@pytest.fixture(scope="module")
def faces(mobile):
    import stylelab

    with torch.inference_mode():
        w = mobile.map(stylelab.z_from_seeds(range(16)), 0.7)
        images = torch.cat([mobile.synthesis(w[i:i + 8], size=256) for i in (0, 8)])
    return w, images


def _edit(mobile, faceapi, w, name: str, scale: float) -> dict[str, torch.Tensor]:
    path = REPO.parent / "shared" / "reference" / "e4e" / f"{name}.npy"
    if not path.is_file():
        pytest.skip(f"reference direction {path} not found")
    direction = torch.from_numpy(np.load(path)).float().reshape(1, 512)
    with torch.inference_mode():
        return faceapi.predict(mobile.synthesis(w + scale * direction, size=256), ffhq_aligned=True)


@pytest.mark.weights
def test_generated_faces_are_plausible(faceapi, faces):
    with torch.inference_mode():
        out = faceapi.predict(faces[1], ffhq_aligned=True)
    age, male = out["age"], out["gender_male_prob"]
    assert age.min() > 0 and age.max() < 80
    assert 20 < age.median() < 50
    assert ((age > 15) & (age < 70)).sum() >= 12
    assert ((male > 0.5).long() == torch.tensor(MALE_BY_EYE)).sum() >= 14
    assert out["expressions"].argmax(-1).unique().numel() >= 2  # not a constant answer


@pytest.mark.weights
def test_smile_direction_raises_happy(mobile, faceapi, faces):
    w, images = faces
    w = w[:8]
    with torch.inference_mode():
        base = faceapi.predict(images[:8], ffhq_aligned=True)
    plus, minus = _edit(mobile, faceapi, w, "smile", 3.0), _edit(mobile, faceapi, w, "smile", -3.0)
    happy = EXPRESSIONS.index("happy")

    def margin(out):  # happy logit over the best other logit: no saturation at p = 1
        logits = out["expression_logits"]
        others = torch.cat([logits[:, :happy], logits[:, happy + 1:]], 1)
        return logits[:, happy] - others.max(1).values

    # measured (seeds 0-7): mean p(happy) 0.85 unedited, 1.00 at +3, 0.00 at -3; margins all up
    p_plus, p_base = plus["expressions"][:, happy], base["expressions"][:, happy]
    assert p_plus.mean() > p_base.mean() + 0.05
    assert (margin(plus) > margin(base)).sum() >= 7
    assert p_plus.mean() > minus["expressions"][:, happy].mean() + 0.5


@pytest.mark.weights
def test_age_direction_raises_age(mobile, faceapi, faces):
    w = faces[0][:8]
    older, younger = _edit(mobile, faceapi, w, "age", 3.0), _edit(mobile, faceapi, w, "age", -3.0)
    # measured (seeds 0-7): mean age 57.6 at +3 vs 8.5 at -3, older for all 8
    assert (older["age"] > younger["age"]).sum() >= 7
    assert (older["age"] - younger["age"]).mean() > 10
