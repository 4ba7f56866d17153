"""Landmark measures (mouth, smile, eyes, pose) and region masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from stylelab.faces import (
    MEAN_FACE_3D,
    REGIONS,
    landmark_attributes,
    mirror_landmarks,
    region_masks,
    yaw_pitch,
)
from stylelab.images import to_uint8


def rotation(yaw: float = 0.0, pitch: float = 0.0) -> np.ndarray:
    """Model -> camera rotation turning the face by ``yaw`` (towards image right) and
    ``pitch`` (up), degrees."""
    a, b = np.radians(yaw), np.radians(pitch)
    turn = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
    return tilt @ turn


def projected(yaw: float = 0.0, pitch: float = 0.0, scale: float = 60.0) -> np.ndarray:
    """(68, 2) landmarks of the generic face seen at this pose, centred at (128, 128)."""
    return (MEAN_FACE_3D @ rotation(yaw, pitch).T)[:, :2] * scale + 128.0


def rotate_points(points: np.ndarray, degrees: float, centre=(128.0, 128.0)) -> np.ndarray:
    """Rotate clockwise in the image (y down) by ``degrees``."""
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return (points - centre) @ rot.T + centre


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (25, 0), (-15, 10), (30, -12)])
def test_pose_fit_recovers_known_pose(yaw, pitch):
    got = yaw_pitch(projected(yaw, pitch))
    np.testing.assert_allclose(got, (yaw, pitch), atol=0.5)


def test_mirroring_flips_yaw_and_roll():
    lm = rotate_points(projected(20, 8), 7)
    a, m = landmark_attributes(lm), landmark_attributes(mirror_landmarks(lm, 256))
    assert a["yaw"] == pytest.approx(20, abs=0.5) and m["yaw"] == pytest.approx(-a["yaw"])
    assert a["roll"] > 6 and m["roll"] == pytest.approx(-a["roll"])
    for key in ("pitch", "smile", "mouth_open", "mouth_width", "eye_openness"):
        assert m[key] == pytest.approx(a[key], abs=1e-6), key


def test_rotation_changes_only_roll():
    lm = projected(-10, 5)
    a, r = landmark_attributes(lm), landmark_attributes(rotate_points(lm, 25))
    assert r["roll"] - a["roll"] == pytest.approx(25, abs=1e-6)
    for key in ("yaw", "pitch", "smile", "mouth_open", "mouth_width", "eye_openness"):
        assert r[key] == pytest.approx(a[key], abs=1e-6), key


def test_scale_invariance():
    lm = projected(12, -4)
    a, b = landmark_attributes(lm), landmark_attributes(lm * 7.5 + 300)
    for key in a:
        assert b[key] == pytest.approx(a[key], abs=1e-6), key


def test_bad_shape():
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        landmark_attributes(np.zeros((5, 2)))


@pytest.mark.weights
def test_measures_on_generated_faces(generated):
    for lm in generated.landmarks:
        a = landmark_attributes(lm)
        assert abs(a["roll"]) < 5 and abs(a["yaw"]) < 35 and abs(a["pitch"]) < 25
        assert 0.1 < a["eye_openness"] < 0.5 and 0.6 < a["mouth_width"] < 1.4
        assert 0.0 <= a["mouth_open"] < 0.5


@pytest.mark.weights
def test_e4e_smile_direction_raises_smile(mobile, generated, detector, shared_dir):
    direction = np.load(shared_dir / "reference" / "e4e" / "smile.npy")
    assert direction.shape == (1, 512)
    with torch.inference_mode():
        edited = mobile.synthesis(generated.w + 3 * torch.from_numpy(direction).float(), size=256)
    wins_smile = wins_mouth = 0
    for lm, arr in zip(generated.landmarks, to_uint8(edited)):
        before = landmark_attributes(lm)
        after = landmark_attributes(detector.largest_face(arr)[0].landmarks)
        wins_smile += after["smile"] > before["smile"]
        wins_mouth += after["mouth_width"] > before["mouth_width"]
    assert wins_smile >= 7 and wins_mouth >= 7, (wins_smile, wins_mouth)


def test_region_masks_shapes_and_layout():
    lm = projected(0, 0)
    masks = region_masks(lm, 256)
    assert set(masks) == set(REGIONS)
    for name, m in masks.items():
        assert m.shape == (256, 256) and m.dtype == torch.float32, name
        assert 0.0 <= float(m.min()) and float(m.max()) <= 1.0 and float(m.max()) > 0.9, name

    def centre_y(m: torch.Tensor) -> float:
        ys = torch.arange(m.shape[0], dtype=torch.float32)[:, None]
        return float((m * ys).sum() / m.sum())

    assert centre_y(masks["hair"]) < centre_y(masks["brows"]) < centre_y(masks["eyes"])
    assert centre_y(masks["eyes"]) < centre_y(masks["nose"]) < centre_y(masks["mouth"])
    total = masks["face"] + masks["hair"] + masks["background"]
    assert float((total - 1).abs().mean()) < 0.02  # they partition the image
    small = region_masks(lm, 64, image_size=256)
    assert small["mouth"].shape == (64, 64)
    big = torch.nn.functional.interpolate(small["mouth"][None, None], size=256, mode="bilinear")
    assert float((big[0, 0] - masks["mouth"]).abs().mean()) < 0.02


@pytest.mark.weights
def test_region_masks_on_a_generated_face(generated, tmp_path):
    image, lm = generated.images[0], generated.landmarks[0]
    masks = region_masks(lm, 256)
    arr = np.asarray(image, np.float32)
    colours = {"mouth": (255, 0, 0), "eyes": (0, 255, 0), "brows": (0, 0, 255),
               "nose": (255, 255, 0), "hair": (255, 0, 255), "face": (0, 255, 255),
               "background": (255, 128, 0)}
    tiles = []
    for name in REGIONS:
        m = masks[name].numpy()[..., None] * 0.6
        tiles.append(arr * (1 - m) + m * np.array(colours[name], np.float32))
    Image.fromarray(np.concatenate(tiles, 1).astype(np.uint8)).save(tmp_path / "regions.png")
    # Landmark-based sanity: each region covers its own landmarks.
    own = {"mouth": [51, 57], "eyes": [37, 44], "brows": [19, 24], "nose": [30]}
    for name, idx in own.items():
        for x, y in np.rint(lm[idx]).astype(int):
            assert float(masks[name][y, x]) > 0.5, name
    assert float(masks["hair"][5, 128]) > 0.5 and float(masks["background"][250, 5]) > 0.5
