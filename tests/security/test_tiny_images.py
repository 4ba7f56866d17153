"""Tiny and extreme-aspect images never reach dlib's detectors at sizes that crash them.

Measured with dlib 20.0: its CNN face detector raises ``RuntimeError`` or corrupts the
heap and kills the process (SIGSEGV/SIGBUS/abort) on inputs with a side under 10 pixels;
the old code reached it with 1x1, 2x2, 3x3, 2000x10, 10x2000, 2000x20, 3000x30, 330x4,
... (RuntimeError) and 30x3000 (heap corruption, abort). With a detector searching
4096-pixel copies, 40x4096 and 56x4096 crashed the process (SIGSEGV, abort) in the CNN
fallback. Each probe runs in a child process, so a crash fails the test instead of
killing pytest."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from stylelab.faces import (
    FaceDetector,
    ImageTooSmallError,
    NoFaceError,
    dlib_model_path,
)
from stylelab.faces.detect import MIN_SEARCH_SIDE

pytestmark = pytest.mark.weights

# (detector max_side, width, height)
TINY = [(1024, w, h) for w, h in [(1, 1), (2, 2), (3, 3), (5, 5), (9, 9), (31, 31), (2000, 10),
                                   (10, 2000), (2000, 20), (3000, 30), (30, 3000), (330, 4),
                                   (1024, 8), (4000, 1), (1, 4000)]]
# Searched, but thin: the CNN fallback must skip copies too thin for it.
THIN = [(1024, 32, 32), (1024, 320, 32), (1024, 2000, 64), (1024, 64, 2000),
        (4096, 4096, 40), (4096, 40, 4096), (4096, 56, 4096), (2048, 2048, 32), (2048, 32, 2048)]

_PROBE = r"""
import json, sys
import numpy as np
from stylelab.faces import FaceDetector
out, detectors = [], {}
for max_side, w, h in json.loads(sys.argv[1]):
    detector = detectors.setdefault(max_side, FaceDetector(max_side=max_side))
    image = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    try:
        found = detector.detect(image)
        out.append([w, h, "ok", len(found), ""])
    except Exception as err:
        out.append([w, h, type(err).__name__, 0, str(err)])
    print(json.dumps(out[-1]), flush=True)
"""


@pytest.fixture(scope="module", autouse=True)
def _dlib():
    if importlib.util.find_spec("dlib") is None:
        pytest.skip("dlib is not installed (pip install dlib-bin)")
    dlib_model_path("shape_predictor_68_face_landmarks.dat")


def probe(entries: list) -> list[list]:
    """Run the detector on random images (max_side, width, height) in a child process."""
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(entries)],
                          capture_output=True, text=True, timeout=600, check=False)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]
    assert done.returncode == 0, (f"crashed (rc {done.returncode}) after {lines}: "
                                  f"{done.stderr[-1500:]}")
    return lines


def test_tiny_and_elongated_images_get_image_too_small():
    for w, h, kind, _, message in probe(TINY):  # refused before dlib runs
        assert kind == "ImageTooSmallError", (w, h, kind, message)
        assert f"{w}x{h}" in message and f"at least {MIN_SEARCH_SIDE}" in message
        assert "\n" not in message and "use a larger" in message


def test_thin_images_that_are_searched_do_not_crash_the_cnn_fallback():
    for w, h, kind, found, message in probe(THIN):
        assert (kind, found) == ("ok", 0), (w, h, kind, message)


def test_too_small_is_a_no_face_error():
    detector = FaceDetector()
    with pytest.raises(NoFaceError) as info:
        detector.largest_face(np.zeros((10, 2000, 3), np.uint8))
    assert type(info.value) is ImageTooSmallError


def test_any_other_dlib_runtime_error_is_no_face(monkeypatch):
    detector = FaceDetector()
    detector._load()

    def refuse(*args):
        raise RuntimeError("\n\nError detected at line 42.\nFailing expression was x.\n")

    monkeypatch.setattr(detector, "_hog", refuse)
    with pytest.raises(NoFaceError) as info:
        detector.detect(np.zeros((200, 200, 3), np.uint8))
    message = str(info.value)
    assert type(info.value) is NoFaceError and "\n" not in message
    assert message.startswith("no face found: use a photo")
