"""Detection and FFHQ alignment on real portraits and generated FFHQ faces."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylelab.faces import (
    FaceTooSmallError,
    NoFaceError,
    align_face,
    dlib_model_path,
    quad_matrix,
)
from stylelab.faces.align import apply_matrix

pytestmark = pytest.mark.weights

# Eye centres and mouth corners: what FFHQ alignment pins down.
KEY = {"eye_left": slice(36, 42), "eye_right": slice(42, 48), "mouth_left": 48, "mouth_right": 54}
PEOPLE = ["P001", "P002", "P003", "P004"]


def key_points(landmarks: np.ndarray) -> np.ndarray:
    """(4, 2): left/right eye centres, left/right mouth corners."""
    return np.stack([np.atleast_2d(landmarks[s]).mean(0) for s in KEY.values()])


def eye_angle(landmarks: np.ndarray) -> float:
    d = landmarks[42:48].mean(0) - landmarks[36:42].mean(0)
    return float(np.degrees(np.arctan2(d[1], d[0])))


def test_model_files_found():
    assert dlib_model_path("shape_predictor_68_face_landmarks.dat").is_file()


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("shot", ["studio_portrait", "amateur_selfie"])
def test_portraits_align_to_ffhq_positions(portrait, detector, canonical, person, shot):
    aligned = align_face(portrait(person, shot), 256, detector=detector)
    assert aligned.image.size == (256, 256) and aligned.n_faces == 1
    # The eyes are pinned by the recipe; mouths vary with expression (smiling selfies).
    err = np.abs(key_points(aligned.landmarks) - key_points(canonical))
    assert err[:2].max() < 6.0, err
    assert err[2:].max() < 16.0, err
    assert abs(eye_angle(aligned.landmarks)) < 2.0


def test_generated_face_aligns_to_nearly_identity(generated, detector):
    corners = np.array([[-0.5, -0.5], [-0.5, 255.5], [255.5, 255.5], [255.5, -0.5]])
    for image in generated.images:
        aligned = align_face(image, 256, detector=detector)
        assert np.abs(aligned.quad - corners).max() < 10.0, aligned.quad
        diff = np.abs(np.asarray(aligned.image, float) - np.asarray(image, float)).mean()
        assert diff < 20.0


@pytest.mark.parametrize("angle", [20, -20])
def test_rotated_photo_aligns_upright(portrait, detector, canonical, angle):
    photo = portrait("P002").resize((768, 768), Image.Resampling.LANCZOS)
    rotated = photo.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=(120,) * 3)
    face = detector.largest_face(rotated)[0]
    assert abs(eye_angle(face.landmarks) + angle) < 4.0  # PIL rotates counter-clockwise
    aligned = align_face(rotated, 256, face=face)
    assert abs(eye_angle(aligned.landmarks)) < 1.0
    assert np.abs(key_points(aligned.landmarks)[:2] - key_points(canonical)[:2]).max() < 6.0


def test_no_face_raises(detector):
    gradient = np.tile(np.linspace(0, 255, 160, dtype=np.float32), (120, 1)).astype(np.uint8)
    image = Image.fromarray(gradient).convert("RGB")
    with pytest.raises(NoFaceError, match="no face found: use a photo"):
        align_face(image, detector=detector)
    assert detector.detect(image) == []


def test_tiny_face_raises(portrait, detector):
    canvas = Image.new("RGB", (400, 400), (128, 128, 128))
    canvas.paste(portrait("P002").resize((70, 70), Image.Resampling.LANCZOS), (160, 160))
    with pytest.raises(FaceTooSmallError, match="face too small"):
        align_face(canvas, detector=detector)
    assert align_face(canvas, 64, detector=detector, min_quad=16).image.size == (64, 64)


def test_two_faces_largest_chosen(portrait, detector):
    big = portrait("P001").resize((512, 512), Image.Resampling.LANCZOS)
    small = portrait("P003").resize((256, 256), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (800, 512), (128, 128, 128))
    canvas.paste(big, (0, 0))
    canvas.paste(small, (530, 128))
    faces = detector.detect(canvas)
    assert len(faces) == 2 and faces[0].area > faces[1].area
    aligned = align_face(canvas, 128, detector=detector)
    assert aligned.n_faces == 2
    assert aligned.quad[:, 0].mean() < 512 and aligned.source_size == (800, 512)


def test_big_images_detected_on_a_downscaled_copy(portrait, detector):
    photo = portrait("P004")  # 2048 x 2048
    half = photo.resize((1024, 1024), Image.Resampling.LANCZOS)
    full, small = detector.detect(photo)[0], detector.detect(half)[0]
    np.testing.assert_allclose(full.landmarks, (small.landmarks + 0.5) * 2 - 0.5, atol=1e-6)
    assert full.box[2] > 1024 and full.detector == "hog"


def test_geometry_round_trips(portrait, detector):
    photo = portrait("P003", "amateur_selfie")
    aligned = align_face(photo, 256, detector=detector)
    np.testing.assert_allclose(aligned.to_source(aligned.landmarks), aligned.source_landmarks,
                               atol=1e-6)
    np.testing.assert_allclose(aligned.crop_to_source() @ aligned.source_to_crop(), np.eye(3),
                               atol=1e-9)
    # Crop outer corners map to the quad, at any crop size.
    for size in (256, 1024):
        outer = np.array([[-0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5],
                          [size - 0.5, -0.5]])
        np.testing.assert_allclose(apply_matrix(quad_matrix(aligned.quad, size), outer),
                                   aligned.quad, atol=1e-6)
    # Given landmarks skip detection and give the same crop.
    again = align_face(photo, 256, face=aligned.source_landmarks)
    assert again.n_faces == 1
    assert np.array_equal(np.asarray(again.image), np.asarray(aligned.image))


@pytest.mark.parametrize("size", [64, 1024])
def test_output_sizes_sharp_and_consistent(portrait, detector, size):
    aligned = align_face(portrait("P001"), size, detector=detector)
    ref = align_face(portrait("P001"), 256, face=aligned.source_landmarks)
    resized = aligned.image.resize((256, 256), Image.Resampling.LANCZOS)
    assert np.abs(np.asarray(resized, float) - np.asarray(ref.image, float)).mean() < 6.0
    np.testing.assert_allclose(aligned.landmarks, (ref.landmarks + 0.5) * size / 256 - 0.5,
                               atol=1e-6)


@pytest.mark.parametrize("padding", ["reflect", "edge"])
def test_face_at_the_border_is_padded(portrait, detector, padding):
    photo = portrait("P001").resize((1024, 1024), Image.Resampling.LANCZOS)
    cut = photo.crop((180, 200, 1024, 1024))  # quad leaves the photo on the left and top
    aligned = align_face(cut, 256, detector=detector, padding=padding)
    assert aligned.quad.min() < 0
    arr = np.asarray(aligned.image, float)
    assert arr[:8, :8].mean() > 40  # padded corner is filled, not black


def test_bad_arguments(portrait):
    with pytest.raises(ValueError, match="padding"):
        align_face(portrait("P001"), padding="zeros")
    with pytest.raises(ValueError, match="landmarks must be"):
        align_face(portrait("P001"), face=np.zeros((5, 2)))

