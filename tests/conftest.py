"""Shared fixtures. Tests never touch the network: HF_HUB_OFFLINE=1, no analytics."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# the tiny test generators (hidden from users), here and in every subprocess a test starts
os.environ["STYLELAB_PLUGINS"] = ",".join(
    filter(None, ["stylelab.testing", os.environ.get("STYLELAB_PLUGINS", "")]))

import stylelab.testing  # noqa: E402,F401


@pytest.fixture(scope="session", autouse=True)
def _stylelab_cache(tmp_path_factory):
    """A cache for this session unless STYLELAB_CACHE is set (then converted weights are reused)."""
    if not os.environ.get("STYLELAB_CACHE"):
        os.environ["STYLELAB_CACHE"] = str(tmp_path_factory.mktemp("stylelab-cache"))
    yield


@pytest.fixture(scope="session")
def tiny():
    from stylelab import load_generator

    return load_generator("tiny-test")


@pytest.fixture(scope="session")
def mobile():
    """The real embedded MobileStyleGAN-FFHQ (converted from the random-face IR on first use)."""
    from stylelab import load_generator

    return load_generator("mobilestylegan-ffhq")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the checkout: reference directions and face-api.js weights."""
    for path in (SHARED, Path("/work/shared")):
        if path.is_dir():
            return path
    pytest.skip(f"the shared reference folder is missing ({SHARED} or /work/shared)")


@pytest.fixture(scope="session")
def faceapi_dir() -> Path:
    path = Path(os.environ.get("FACEAPI_WEIGHTS") or SHARED / "weights" / "faceapi")
    if not (path / "age_gender_model-weights_manifest.json").is_file():
        pytest.skip(f"face-api.js weights not found at {path} "
                    "(set FACEAPI_WEIGHTS to a folder with them)")
    return path


@pytest.fixture(scope="session")
def detector():
    """One dlib detector for the whole session (skips if dlib or its models are missing)."""
    from stylelab.faces import FaceDetector, MissingModelError, dlib_model_path

    if importlib.util.find_spec("dlib") is None:
        pytest.skip("dlib is not installed (pip install dlib-bin)")
    try:
        dlib_model_path("shape_predictor_68_face_landmarks.dat")
    except MissingModelError as err:
        pytest.skip(str(err))
    return FaceDetector()
