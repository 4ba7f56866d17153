"""Identity: dlib's face-recognition ResNet converted to PyTorch, chips, distances, losses.

Faces: 4 openpeople persons (P001-P004) x (studio_portrait, amateur_selfie), shrunk to
640 px, landmarks by dlib; plus MobileStyleGAN faces. Numbers are printed (``-s``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

dlib = pytest.importorskip("dlib")

from stylelab.cache import load_checked
from stylelab.faces import dlib_resnet
from stylelab.faces.detect import dlib_model_path
from stylelab.faces.dlib_resnet import (
    DLIB_RESNET_FILE,
    DlibFaceResNet,
    DlibModelError,
    add_zero_filled,
    load_dlib_resnet,
)
from stylelab.faces.errors import FaceError, NoFaceError
from stylelab.faces.identity import (
    SAME_PERSON_THRESHOLD,
    IdentityModel,
    canonical_landmarks,
    chip_details,
    dlib_descriptor,
    dlib_distance,
    dlib_landmarks,
    face_chip,
    similarity,
)

PERSONS = ("P001", "P002", "P003", "P004")
KINDS = ("studio_portrait", "amateur_selfie")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def _detection(landmarks: np.ndarray):
    pts = dlib.points()
    for x, y in np.round(landmarks).astype(int):
        pts.append(dlib.point(int(x), int(y)))
    return dlib.full_object_detection(dlib.rectangle(0, 0, 1, 1), pts)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1


@pytest.fixture(scope="session")
def net() -> DlibFaceResNet:
    return load_dlib_resnet()


@pytest.fixture(scope="session")
def model(net) -> IdentityModel:
    return IdentityModel(net)


@pytest.fixture(scope="session")
def photos() -> dict[tuple[str, str], dict]:
    """{(person, kind): {"image": (H, W, 3) uint8, "landmarks": (68, 2), "chip": dlib's chip}}."""
    from openpeople.io import get_curated_dir
    from PIL import Image

    out = {}
    for person in PERSONS:
        for kind in KINDS:
            image = Image.open(Path(get_curated_dir()) / person / "assets" / f"{kind}.jpg")
            image = image.convert("RGB")
            image.thumbnail((640, 640))
            img = np.asarray(image)
            pts = dlib_landmarks(img, upsample=0)
            chip = dlib.get_face_chip(img, _detection(pts), 150, 0.25)
            out[person, kind] = {"image": img, "landmarks": pts, "chip": chip}
    return out


# ------------------------------------------------------------------ no weights needed
def test_architecture_shapes():
    net = DlibFaceResNet()
    assert net(torch.rand(1, 3, 150, 150) * 255).shape == (1, 128)
    assert sum(p.numel() for p in net.parameters()) == 5_614_592  # as many as the .dat file holds


def test_add_zero_filled_matches_dlib_rule():
    a, b = torch.ones(1, 2, 3, 3), torch.full((1, 4, 4, 4), 2.0)
    out = add_zero_filled(a, b)
    assert out.shape == (1, 4, 4, 4)
    assert out[0, 0, 0, 0] == 3 and out[0, 0, 3, 3] == 2 and out[0, 3, 0, 0] == 2


@pytest.mark.parametrize("points", [68, 5])
def test_chip_details_match_dlib(points):
    rng = np.random.default_rng(points)
    for _ in range(5):
        base = rng.uniform(100, 400, size=(points, 2)).round()
        ref = dlib.get_face_chip_details(_detection(base), 150, 0.25)
        center, angle, scale = chip_details(base)
        rect = ref.rect
        assert np.allclose(center, [(rect.left() + rect.right()) / 2,
                                    (rect.top() + rect.bottom()) / 2], atol=1e-8)
        assert np.isclose(np.cos(angle - ref.angle), 1, atol=1e-12)
        assert np.isclose(scale * 150, rect.width(), atol=1e-8)


def test_canonical_landmarks_scale():
    a, b = canonical_landmarks(256), canonical_landmarks(1024)
    assert a.shape == (68, 2)
    assert torch.allclose((a + 0.5) * 4 - 0.5, b, atol=1e-4)
    assert 100 < a[30, 0] < 156 and a[8, 1] > a[30, 1] > a[27, 1]  # nose tip centred, chin low


# ------------------------------------------------------------------ dlib files needed
@pytest.mark.weights
def test_converted_network_matches_dlib(net, photos):
    """Acceptance: cosine >= 0.999 with dlib's compute_face_descriptor on 8 faces."""
    recognizer = dlib.face_recognition_model_v1(str(dlib_model_path(DLIB_RESNET_FILE)))
    chips = np.stack([p["chip"] for p in photos.values()])
    t0 = time.perf_counter()
    ref = np.stack([np.array(recognizer.compute_face_descriptor(c)) for c in chips])
    t_dlib = (time.perf_counter() - t0) / len(chips)
    t0 = time.perf_counter()
    with torch.no_grad():
        out = net(torch.from_numpy(chips).permute(0, 3, 1, 2).float()).double().numpy()
    t_torch = (time.perf_counter() - t0) / len(chips)
    cosines = [_cos(r, o) for r, o in zip(ref, out)]
    max_abs = float(np.abs(ref - out).max())
    print(f"\ncosines {np.round(cosines, 7).tolist()}  max|diff| {max_abs:.2e}  "
          f"per face: dlib {1e3 * t_dlib:.0f} ms, torch {1e3 * t_torch:.0f} ms")
    assert min(cosines) >= 0.999, cosines
    assert max_abs < 1e-4


@pytest.mark.weights
def test_face_chip_and_embedding_match_dlib(model, photos):
    """grid_sample chips equal dlib's (up to 1-level rounding), also through its pyramid."""
    from PIL import Image

    selfie, portrait = photos["P002", "amateur_selfie"], photos["P001", "studio_portrait"]
    big = np.asarray(Image.fromarray(portrait["image"]).resize(
        (2 * portrait["image"].shape[1], 2 * portrait["image"].shape[0]), Image.BILINEAR))
    cases = [(selfie["image"], selfie["landmarks"]),        # no pyramid
             (portrait["image"], portrait["landmarks"]),    # 1 pyramid level
             (big, 2 * portrait["landmarks"])]              # 2 pyramid levels
    for img, pts in cases:
        ref_chip = dlib.get_face_chip(img, _detection(pts), 150, 0.25).astype(np.float64)
        x = _to_tensor(img)
        chip = ((face_chip(x, torch.from_numpy(pts)[None])[0] + 1) * 127.5).permute(1, 2, 0)
        diff = np.abs(chip.double().numpy() - ref_chip)
        with torch.no_grad():
            emb = model.embed(x, torch.from_numpy(pts)[None])[0].double().numpy()
        ref = dlib_descriptor(img, pts)
        print(f"\n{img.shape[:2]}: chip |diff| mean {diff.mean():.4f} max {diff.max():.0f}; "
              f"cos {_cos(ref, emb):.7f}, dlib distance {np.linalg.norm(ref - emb):.4f}")
        assert diff.mean() < 0.02 and diff.max() <= 1.0 + 1e-3
        assert _cos(ref, emb) > 0.9999


@pytest.mark.weights
def test_same_person_closer_than_different(photos):
    desc = {k: dlib_descriptor(p["image"], p["landmarks"]) for k, p in photos.items()}
    same = {p: float(np.linalg.norm(desc[p, KINDS[0]] - desc[p, KINDS[1]])) for p in PERSONS}
    cross = {(p, q): float(np.linalg.norm(desc[p, KINDS[0]] - desc[q, KINDS[1]]))
             for p in PERSONS for q in PERSONS if p != q}
    print(f"\nsame person {np.round(list(same.values()), 3).tolist()}; different persons "
          f"min {min(cross.values()):.3f} mean {np.mean(list(cross.values())):.3f}")
    assert max(same.values()) < min(SAME_PERSON_THRESHOLD, min(cross.values()))
    for p in PERSONS:
        assert same[p] < min(d for (a, b), d in cross.items() if p in (a, b))


@pytest.mark.weights
def test_identity_loss_gradients_reach_the_image(model, photos):
    item = photos["P003", "studio_portrait"]
    image = _to_tensor(item["image"]).requires_grad_(True)
    pts = torch.from_numpy(item["landmarks"])[None]
    target = torch.from_numpy(dlib_descriptor(item["image"], item["landmarks"])).float()
    loss = model.identity_loss(image, target, pts)
    assert loss.shape == (1,) and 0 <= loss.item() < 1e-4  # its own descriptor
    with torch.no_grad():
        chip = photos["P001", "studio_portrait"]["chip"]
        other = model.net(torch.from_numpy(chip).permute(2, 0, 1)[None].float())[0]
    loss = model.identity_loss(image, other, pts)
    loss.sum().backward()
    grad = image.grad[0].abs().sum(0)
    x0, y0 = item["landmarks"].min(0).astype(int)
    x1, y1 = item["landmarks"].max(0).astype(int)
    assert torch.isfinite(grad).all() and loss.item() > 0.05
    assert grad[y0:y1, x0:x1].sum() > 0.5 * grad.sum()  # the gradient sits on the face
    with torch.no_grad():  # float chips (no truncation to integer levels): nearly the same
        smooth = IdentityModel(model.net, exact=False).embed(image, pts)
        assert similarity(smooth, model.embed(image, pts)).item() > 0.999


@pytest.mark.weights
def test_identity_through_generator_latent(model, mobile):
    """Canonical (FFHQ-aligned) landmarks: close to dlib's own, and gradients reach W."""
    from stylelab import z_from_seeds
    from stylelab.images import to_uint8

    with torch.no_grad():
        w = mobile.map(z_from_seeds([11, 12]), 0.7)
        img = mobile.synthesis(w, size=256)
    u8 = to_uint8(img)
    ref = torch.from_numpy(np.stack([dlib_descriptor(a, dlib_landmarks(a, upsample=0))
                                     for a in u8])).float()
    with torch.no_grad():
        emb = model.embed(img)  # no landmarks: FFHQ-aligned
    dist = dlib_distance(ref, emb)
    print(f"\ncanonical landmarks vs dlib detection: cos {similarity(ref, emb).numpy().round(4)}"
          f" distance {dist.numpy().round(3)}; seeds 11 vs 12 {dlib_distance(ref[0], ref[1]):.3f}")
    assert (dist < 0.3).all()
    w = w[:1].clone().requires_grad_(True)
    loss = model.identity_loss(mobile.synthesis(w, size=256), ref[1])
    loss.sum().backward()
    assert loss.item() > 0.01 and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0


@pytest.mark.weights
def test_no_face_raises():
    blank = np.full((200, 200, 3), 128, np.uint8)
    with pytest.raises(NoFaceError, match="no face found"):
        dlib_descriptor(blank)
    assert issubclass(NoFaceError, FaceError) and issubclass(NoFaceError, ValueError)


@pytest.mark.weights
def test_corrupt_or_truncated_dat_raises(tmp_path):
    data = dlib_model_path(DLIB_RESNET_FILE).read_bytes()
    cases = {
        "truncated": data[: len(data) // 3],
        "header_cut": data[:200],
        "bad_layer_name": data.replace(b"\x05con_4", b"\x05cxn_4", 1),
        "garbage": bytes(range(256)) * 64,
        "trailing": data + b"\x00",
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.dat"
        path.write_bytes(content)
        with pytest.raises(DlibModelError, match="corrupt or truncated|not dlib"):
            load_dlib_resnet(path)


@pytest.mark.weights
def test_cache_is_reused_and_rebuilt_when_corrupt(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLELAB_CACHE", str(tmp_path))
    load_dlib_resnet()
    [cached] = tmp_path.glob("dlib_face_resnet_v1-*.safetensors")
    assert cached.with_suffix(".sha256").exists()
    stamp = cached.stat().st_mtime_ns
    calls = []
    real = dlib_resnet.convert_dlib_network
    monkeypatch.setattr(dlib_resnet, "convert_dlib_network",
                        lambda p: calls.append(p) or real(p))
    load_dlib_resnet()
    assert not calls and cached.stat().st_mtime_ns == stamp  # second load: the cache
    first = {k: v.clone() for k, v in load_checked(cached).items()}  # (mmapped)
    with open(cached, "r+b") as fh:  # corrupt one byte: rebuilt, never loaded
        fh.seek(cached.stat().st_size - 10)
        byte = fh.read(1)[0]
        fh.seek(-1, 1)
        fh.write(bytes([byte ^ 0xFF]))
    net = load_dlib_resnet()
    rebuilt = load_checked(cached)  # the sidecar digest matches the rewritten file
    assert len(calls) == 1 and all(torch.equal(first[k], rebuilt[k]) for k in first)
    assert not net.training and not any(p.requires_grad for p in net.parameters())
