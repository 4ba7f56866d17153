"""The Text edit tab through gradio_client, with a constructed CLIP model (clip_plugin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from conftest import Hub
    from gradio_client import Client

PLANTED_CLIP = "test:planted-tiny"  # registered inside the hub process by clip_plugin.py
GLOBAL = "Global direction (instant after a one-off preprocessing)"


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def call(client: Client, method: str = GLOBAL, target: str = "a face with alpha",
         neutral: str = "a face", *, clip: str = PLANTED_CLIP, alpha: float = 6.0,
         beta: float = 0.1, steps: int = 5, space: str = "w+", model: str = "tiny-test",
         region: str = "whole image", max_channels: float = 100):
    return client.predict(model, clip, "Seed", 3, 0.7, method, target, neutral, alpha, beta,
                          steps, space, region, max_channels, api_name="/text_edit")


@pytest.fixture(scope="module")
def client(hub: Hub):
    from gradio_client import Client

    return Client(hub.url, verbose=False)


def test_global_direction_edits_the_face(client: Client) -> None:
    before, after, notes = call(client)
    assert np.abs(pixels(before) - pixels(after)).mean() > 1.0
    assert "global" in notes and "conv1:5" in notes  # the planted channel leads
    _, unedited, _ = call(client, alpha=0.0)
    assert np.abs(pixels(before) - pixels(unedited)).mean() < 0.5


def test_edit_only_inside_a_region(client: Client) -> None:
    """The mouth region of the average face (dlib finds none on the tiny model's noise):
    outside it the after image is the before image, inside it changes."""
    before, after, notes = call(client, region="mouth")
    diff = np.abs(pixels(before) - pixels(after)).max(axis=2)
    assert "inside the mask" in notes
    assert diff.mean() > 0.05 and (diff == 0).mean() > 0.5
    _, whole, _ = call(client)
    assert (np.abs(pixels(before) - pixels(whole)).max(axis=2) == 0).mean() < 0.5


def test_before_face_shows_without_an_edit(client: Client) -> None:
    """The tab's preview is the same face the edit starts from."""
    shown = client.predict("tiny-test", "Seed", 3, 0.7, api_name="/text_preview")
    before, _, _ = call(client, alpha=0.0)
    assert np.abs(pixels(shown) - pixels(before)).max() == 0
    with pytest.raises(Exception, match="less than minimum value 0"):
        client.predict("tiny-test", "Seed", -4, 0.7, api_name="/text_preview")


@pytest.mark.parametrize("method", ["Latent optimization", "Latent mapper (trains per prompt)"])
def test_optimization_and_mapper(client: Client, method: str) -> None:
    steps = 60 if "mapper" in method else 8  # the mapper learns slowly (lr 1e-3)
    before, after, notes = call(client, method, "gamma", steps=steps)
    assert np.abs(pixels(before) - pixels(after)).mean() > 0.2
    assert "clip_after" in notes
    if "mapper" in method:
        assert "trained the mapper" in notes
        assert "used the cached mapper" in call(client, method, "gamma", steps=steps)[2]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target": "   "}, "empty"),
    ({"target": "a face"}, "same"),
    ({"clip": "no-such-clip"}, "no-such-clip is not in the list of choices"),
    ({"clip": "/tmp/./x"}, "is not in the list of choices"),  # no paths from the hub
    ({"beta": 0.99}, "lower β"),
    ({"alpha": 99.0}, r"α \(strength\) must be a number in -15..15"),
    ({"method": "Latent optimization", "steps": 0}, "steps must be a whole number in 1..500"),
    ({"method": "Latent optimization", "steps": 5000}, "steps must be a whole number in 1..500"),
])
def test_bad_input_is_explained(client: Client, hub: Hub, kwargs: dict, message: str) -> None:
    with pytest.raises(Exception, match=message):
        call(client, **kwargs)
    assert hub.alive()


def test_over_long_prompt_is_truncated_and_said(client: Client) -> None:
    _, _, notes = call(client, target="alpha " * 90)
    assert "truncated" in notes and "77" in notes


@pytest.mark.weights
def test_real_hub_edits_text_offline_with_the_bundled_model(real_hub: Hub) -> None:
    """Offline with an empty Hugging Face cache: the bundled face model is offered and
    edits; a CLIP model that is not cached is refused with a message, not a traceback."""
    from gradio_client import Client

    from stylelab.clip import FACES_MINILM
    from stylelab.clip.faces_minilm import faces_minilm_available

    if not faces_minilm_available():
        pytest.skip("the bundled face text-image model is not installed")
    client = Client(real_hub.url, verbose=False)
    before, after, notes = client.predict(
        "mobilestylegan-ffhq", FACES_MINILM, "Seed", 0, 0.7, "Latent optimization",
        "a smiling face", "a face", 4.0, 0.1, 5, "w+", "whole image",
        api_name="/text_edit")
    assert np.abs(pixels(before) - pixels(after)).mean() > 0.3 and "clip_after" in notes
    with pytest.raises(Exception, match="not in the list of choices") as info:
        client.predict("mobilestylegan-ffhq", "ViT-B/32", "Seed", 0, 0.7, GLOBAL,
                       "a smiling face", "a face", 4.0, 0.1, 5, "w+", "whole image",
                       api_name="/text_edit")
    assert "Traceback" not in str(info.value)
    assert real_hub.alive()


def test_max_channels_limits_the_global_direction(client: Client, hub: Hub) -> None:
    _, after_all, _ = call(client, beta=0.0, max_channels=0)
    _, after_one, notes = call(client, beta=0.0, max_channels=1)
    assert "channels 1.000" in notes and "most relevant to the prompt" in notes
    assert np.abs(pixels(after_all) - pixels(after_one)).mean() > 0.5
    with pytest.raises(Exception) as err:
        call(client, max_channels=-1)
    assert "minimum" in str(err.value) and "Traceback" not in str(err.value)
    assert hub.alive()
