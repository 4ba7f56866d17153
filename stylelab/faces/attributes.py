"""Face measures from 68 dlib landmarks: mouth, smile, eyes and head pose.

Every measure is scale-invariant (distances are divided by the inter-ocular
distance, IOD, or by another distance of the same face) and works on landmarks
at any image scale. Image coordinates: x right, y down.

* ``mouth_open``: mean inner-lip gap (61-67, 62-66, 63-65) / mouth width (48-54);
* ``mouth_width``: mouth width (48-54) / IOD;
* ``smile``: how far the lip corners (48, 54) sit above the lip line (the midpoint
  of the inner lip centres 62, 66), measured along the face's up axis, / IOD;
* ``eye_openness``: eye aspect ratio (EAR, Soukupova & Cech 2016), mean of both eyes;
* ``roll``: angle of the eye line in degrees; > 0 when the face is turned clockwise
  in the image (the eye on the image's right is lower);
* ``yaw``, ``pitch``: degrees, from a scaled-orthographic fit of :data:`MEAN_FACE_3D`
  to the landmarks; ``yaw`` > 0 when the face turns towards the image's right
  (the subject's left), ``pitch`` > 0 when it tilts up. 0 is the average FFHQ pose.

:data:`MEAN_FACE_3D` is this project's own generic face: 396 MobileStyleGAN-FFHQ
faces (seeds 1000-1399, psi 1) and their mirror images, landmarked with
:class:`~stylelab.faces.detect.FaceDetector`, factorised into one rigid 3D shape
and per-image poses (Tomasi-Kanade affine factorisation with the orthographic
metric constraints), rotated so the mean pose is frontal and symmetrised.
"""

from __future__ import annotations

import numpy as np

#: (68, 3) generic face in IOD units: x right, y down, z away from the camera, centred.
MEAN_FACE_3D = np.array([
    -1.171, -0.577, 1.021, -1.166, -0.275, 0.969, -1.140, 0.027, 0.939,  # 0-2
    -1.081, 0.323, 0.902, -0.961, 0.597, 0.780, -0.774, 0.835, 0.581,  # 3-5
    -0.542, 1.032, 0.341, -0.286, 1.190, 0.107, 0.000, 1.238, 0.024,  # 6-8
    0.286, 1.190, 0.107, 0.542, 1.032, 0.341, 0.774, 0.835, 0.581,  # 9-11
    0.961, 0.597, 0.780, 1.081, 0.323, 0.902, 1.140, 0.027, 0.939,  # 12-14
    1.166, -0.275, 0.969, 1.171, -0.577, 1.021, -0.926, -0.807, 0.175,  # 15-17
    -0.784, -0.936, -0.020, -0.583, -0.978, -0.179, -0.373, -0.952, -0.310,  # 18-20
    -0.180, -0.873, -0.404, 0.180, -0.873, -0.404, 0.373, -0.952, -0.310,  # 21-23
    0.583, -0.978, -0.179, 0.784, -0.936, -0.020, 0.926, -0.807, 0.175,  # 24-26
    0.000, -0.635, -0.416, 0.000, -0.446, -0.531, 0.000, -0.257, -0.661,  # 27-29
    0.000, -0.062, -0.790, -0.238, 0.078, -0.413, -0.123, 0.118, -0.479,  # 30-32
    0.000, 0.153, -0.518, 0.123, 0.118, -0.479, 0.238, 0.078, -0.413,  # 33-35
    -0.695, -0.601, 0.042, -0.571, -0.667, -0.048, -0.426, -0.665, -0.077,  # 36-38
    -0.296, -0.576, -0.075, -0.434, -0.553, -0.068, -0.578, -0.554, -0.037,  # 39-41
    0.296, -0.576, -0.075, 0.426, -0.665, -0.077, 0.571, -0.667, -0.048,  # 42-44
    0.695, -0.601, 0.042, 0.578, -0.554, -0.037, 0.434, -0.553, -0.068,  # 45-47
    -0.464, 0.434, 0.042, -0.292, 0.367, -0.229, -0.121, 0.333, -0.385,  # 48-50
    0.000, 0.359, -0.409, 0.121, 0.333, -0.385, 0.292, 0.367, -0.229,  # 51-53
    0.464, 0.434, 0.042, 0.298, 0.600, -0.136, 0.131, 0.674, -0.270,  # 54-56
    0.000, 0.688, -0.290, -0.131, 0.674, -0.270, -0.298, 0.600, -0.136,  # 57-59
    -0.395, 0.443, 0.010, -0.122, 0.426, -0.350, 0.000, 0.438, -0.375,  # 60-62
    0.122, 0.426, -0.350, 0.395, 0.443, 0.010, 0.124, 0.528, -0.290,  # 63-65
    0.000, 0.541, -0.314, -0.124, 0.528, -0.290,  # 66-67
]).reshape(68, 3)

#: Index of each landmark's mirror partner (left <-> right).
MIRROR_INDEX = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30, 35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65]
)
#: Landmarks used by the pose fit: all but the inner lips (they move with expressions).
POSE_POINTS = np.arange(60)


def _check(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2), got {lm.shape}")
    return lm


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def inter_ocular(landmarks: np.ndarray) -> float:
    """Distance between the two eye centres (means of 36-41 and 42-47), in pixels."""
    lm = _check(landmarks)
    return _dist(lm[36:42].mean(0), lm[42:48].mean(0))


def mirror_landmarks(landmarks: np.ndarray, width: float) -> np.ndarray:
    """The landmarks of the horizontally flipped image of side ``width`` (x -> width - 1 - x,
    left and right points swapped so the 68-point layout is kept)."""
    lm = _check(landmarks)[MIRROR_INDEX].copy()
    lm[:, 0] = width - 1 - lm[:, 0]
    return lm


def mouth_open(landmarks: np.ndarray) -> float:
    """Mean inner-lip gap / mouth width (0 closed, about 0.3-0.6 wide open)."""
    lm = _check(landmarks)
    gap = np.mean([_dist(lm[61], lm[67]), _dist(lm[62], lm[66]), _dist(lm[63], lm[65])])
    return float(gap / max(_dist(lm[48], lm[54]), 1e-9))


def mouth_width(landmarks: np.ndarray) -> float:
    """Mouth-corner distance / inter-ocular distance (about 0.8 neutral, larger smiling)."""
    lm = _check(landmarks)
    return _dist(lm[48], lm[54]) / max(inter_ocular(lm), 1e-9)


def smile(landmarks: np.ndarray) -> float:
    """Lift of the lip corners above the lip line, along the face's up axis, / IOD."""
    lm = _check(landmarks)
    eye_line = lm[42:48].mean(0) - lm[36:42].mean(0)
    iod = max(float(np.linalg.norm(eye_line)), 1e-9)
    up = np.array([eye_line[1], -eye_line[0]]) / iod
    centre = (lm[62] + lm[66]) / 2
    lift = ((lm[48] + lm[54]) / 2 - centre) @ up
    return float(lift / iod)


def eye_openness(landmarks: np.ndarray) -> float:
    """Eye aspect ratio, mean of both eyes (about 0.3 open, below 0.15 closed)."""
    lm = _check(landmarks)

    def ear(p: np.ndarray) -> float:
        return (_dist(p[1], p[5]) + _dist(p[2], p[4])) / (2 * max(_dist(p[0], p[3]), 1e-9))

    return (ear(lm[36:42]) + ear(lm[42:48])) / 2


def roll(landmarks: np.ndarray) -> float:
    """Angle of the eye line in degrees, > 0 clockwise in the image."""
    lm = _check(landmarks)
    d = lm[42:48].mean(0) - lm[36:42].mean(0)
    return float(np.degrees(np.arctan2(d[1], d[0])))


def fit_pose(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """Scaled-orthographic fit of :data:`MEAN_FACE_3D`: ``(R, scale)`` with ``R`` a (3, 3)
    rotation (model -> camera axes) such that ``landmarks ~ scale * (R @ X)[:2] + t``."""
    lm = _check(landmarks)[POSE_POINTS]
    model = MEAN_FACE_3D[POSE_POINTS]
    p, x = lm - lm.mean(0), model - model.mean(0)
    a = np.linalg.lstsq(x, p, rcond=None)[0].T  # (2, 3), p ~ x @ a.T
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    rows = u @ vt  # nearest matrix with orthonormal rows
    rot = np.vstack([rows, np.cross(rows[0], rows[1])])
    return rot, float(s.mean())


def yaw_pitch(landmarks: np.ndarray) -> tuple[float, float]:
    """``(yaw, pitch)`` in degrees from :func:`fit_pose` (signs: see module doc).

    The fitted rotation is read as ``R = Rz(roll) @ Rx(pitch) @ Ry(yaw)``: turn, then tilt,
    then rotate in the image plane; its last row ``(cos p sin y, -sin p, cos p cos y)`` does
    not depend on the in-plane roll, so yaw and pitch do not change when the photo rotates.
    """
    rot, _ = fit_pose(landmarks)
    depth = rot[2]
    yaw = np.degrees(np.arctan2(depth[0], depth[2]))
    pitch = np.degrees(np.arcsin(np.clip(-depth[1], -1.0, 1.0)))
    return float(yaw), float(pitch)


def landmark_attributes(landmarks: np.ndarray) -> dict[str, float]:
    """All measures: ``mouth_open``, ``mouth_width``, ``smile``, ``eye_openness``,
    ``yaw``, ``pitch``, ``roll`` (see module doc)."""
    yaw, pitch = yaw_pitch(landmarks)
    return {
        "mouth_open": mouth_open(landmarks),
        "mouth_width": mouth_width(landmarks),
        "smile": smile(landmarks),
        "eye_openness": eye_openness(landmarks),
        "yaw": yaw,
        "pitch": pitch,
        "roll": roll(landmarks),
    }
