"""The Invert tab through gradio_client: align, invert, friendly errors, state for later tabs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from stylelab.pipelines.invert import example_photos

if TYPE_CHECKING:
    from conftest import Hub

pytestmark = pytest.mark.weights  # dlib models for detection, landmarks and identity


@pytest.fixture(scope="module")
def client(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Client:
    return Client(hub.url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")))


@pytest.fixture(scope="module")
def portrait() -> str:
    photos = example_photos()
    if not photos:
        pytest.skip("PyPI openpeople is not installed")
    return str(photos[0])


def test_align_shows_face_with_landmarks(client: Client, portrait: str) -> None:
    image, note = client.predict("tiny-test", handle_file(portrait), api_name="/align")
    with Image.open(image) as im:
        assert im.size == (64, 64)
    assert "One face" in note


def test_invert_returns_reconstruction_metrics_and_pasteback(client: Client, portrait: str
                                                              ) -> None:
    aligned, recon, metrics, pasted, note = client.predict(
        "tiny-test", handle_file(portrait), "W+", 3, api_name="/invert")
    assert note == "Done."
    with Image.open(recon) as im:
        assert im.format == "PNG" and im.size == (64, 64)
    with Image.open(pasted) as im, Image.open(portrait) as src:
        assert im.size == src.size
    assert metrics["steps run"] >= 1 and np.isfinite(metrics["PSNR (dB)"])


def test_the_vgg16_term_is_offered_and_a_bad_one_refused(client: Client, hub: Hub,
                                                         portrait: str) -> None:
    from spaces.invert import PERCEPTUAL

    vgg = next(k for k, v in PERCEPTUAL.items() if v == "vgg16")
    _, recon, metrics, _, note = client.predict("tiny-test", handle_file(portrait), "W+", 2,
                                                vgg, api_name="/invert")
    assert note == "Done." and metrics["steps run"] >= 1 and np.isfinite(metrics["PSNR (dB)"])
    with pytest.raises(AppError) as err:
        client.predict("tiny-test", handle_file(portrait), "W+", 2, "lpips-gold",
                       api_name="/invert")
    assert re.search("perceptual term must be one of|not in the list of choices", str(err.value))
    assert "Traceback" not in str(err.value) and hub.alive()


@pytest.mark.parametrize("kind,expected", [("text", "not an image"), ("blank", "no face"),
                                           ("steps", "steps must be a whole number in 1..500")])
def test_bad_uploads_give_friendly_errors(client: Client, hub: Hub, portrait: str,
                                          tmp_path: Path, kind: str, expected: str) -> None:
    upload, steps = portrait, 3
    if kind == "text":
        upload = tmp_path / "notes.jpg"
        upload.write_text("this is not a photo")
    elif kind == "blank":
        upload = tmp_path / "blank.png"
        Image.new("RGB", (400, 400), (120, 130, 140)).save(upload)
    else:
        steps = 0
    with pytest.raises(AppError) as err:
        client.predict("tiny-test", handle_file(str(upload)), "W+", steps, api_name="/invert")
    assert expected in str(err.value).lower()
    assert "Traceback" not in str(err.value) and hub.alive()


def test_real_model_inverts_a_portrait(real_hub: Hub, portrait: str, tmp_path: Path) -> None:
    client = Client(real_hub.url, verbose=False, download_files=str(tmp_path))
    _, recon, metrics, _, _ = client.predict("mobilestylegan-ffhq", handle_file(portrait), "W+",
                                             20, api_name="/invert")
    with Image.open(recon) as im:
        assert im.size == (256, 256)
    assert metrics["PSNR (dB)"] > 15 and metrics["identity cosine (dlib)"] > 0.5


@pytest.mark.parametrize("method", ["Encoder (instant)", "CLCAE (W+ and F)",
                                    "Encoder + refine (W+ steps)", "PTI from the encoder"])
def test_encoder_methods_invert_and_feed_the_edit_tab(client: Client, portrait: str,
                                                      hub_encoders: None, method: str) -> None:
    _, recon, metrics, _, note = client.predict("tiny-test", handle_file(portrait), method, 3,
                                                api_name="/invert")
    assert note == "Done." and np.isfinite(metrics["PSNR (dB)"])
    steps = metrics.get("steps run", metrics.get("pivot steps run"))
    assert steps == (0 if method in ("Encoder (instant)", "CLCAE (W+ and F)") else 3)
    from test_edit_client import call_edit

    before, after = call_edit(client, "tiny-test", {}, source="Inverted face (Invert tab)")
    assert np.abs(pixels(before) - pixels(recon)).max() <= 1  # the edit tab starts from it
    _, moved = call_edit(client, "tiny-test", {"ganspace/pc0": 3.0},
                         source="Inverted face (Invert tab)")
    assert np.abs(pixels(moved) - pixels(before)).mean() > 1.0


def test_a_missing_encoder_says_how_to_train_one(client: Client, hub: Hub, portrait: str
                                                 ) -> None:
    with pytest.raises(AppError) as err:
        client.predict("plugin-stylegan2", handle_file(portrait), "Encoder (instant)", 3,
                       api_name="/invert")
    assert "train_encoder.py --model plugin-stylegan2 --kind e4e" in str(err.value)
    assert hub.alive()


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
