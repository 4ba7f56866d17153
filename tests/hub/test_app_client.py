"""Drive the hub's API with gradio_client: images, style mixing, interpolation, friendly errors."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from hub_load import api_event  # noqa: E402

if TYPE_CHECKING:
    from conftest import Hub


@pytest.fixture(scope="module")
def client(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Client:
    return Client(hub.url, verbose=False, download_files=str(tmp_path_factory.mktemp("dl")))


def png(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """Open ``path``, check it is a PNG of ``size`` (w, h), return its pixels."""
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == size
        return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize("size", [32, 64])
def test_generate_one_png_per_seed(client: Client, size: int) -> None:
    items = client.predict("tiny-test", "0-2,7", 1.0, size, api_name="/generate")
    assert [item["caption"] for item in items] == [f"seed {s}, ψ 1" for s in (0, 1, 2, 7)]
    images = [png(item["image"], (size, size)) for item in items]
    assert not np.array_equal(images[0], images[1])


def test_generate_is_deterministic(client: Client) -> None:
    first, again = (client.predict("tiny-test", "5", 0.7, 32, api_name="/generate")[0]["image"]
                    for _ in range(2))
    assert np.array_equal(png(first, (32, 32)), png(again, (32, 32)))


def test_mix_gives_a_b_and_mix(client: Client) -> None:
    a, b, mixed = (png(p, (64, 64)) for p in
                   client.predict("tiny-test", 0, 1, 0, 3, 1.0, 64, api_name="/mix"))
    assert not np.array_equal(mixed, a) and not np.array_equal(mixed, b)
    _, b, all_of_b = (png(p, (64, 64)) for p in
                      client.predict("tiny-test", 0, 1, 0, 10, 1.0, 64, api_name="/mix"))
    assert np.array_equal(all_of_b, b)  # every W+ layer from B is B


@pytest.mark.parametrize("space", ["W", "W+"])
def test_interpolate_strip(client: Client, space: str) -> None:
    path = client.predict("tiny-test", 0, 1, 4, space, 0, 3, 1.0, 32, api_name="/interpolate")
    frames = np.split(png(path, (4 * 32, 32)), 4, axis=1)
    assert not np.array_equal(frames[0], frames[-1])


BAD_INPUTS = [
    ("/generate", ("tiny-test", "abc", 1.0, 32), "bad seed 'abc': seeds are whole numbers in 0..4294967295"),
    ("/generate", ("tiny-test", "-5", 1.0, 32), "bad seed '-5'"),
    ("/generate", ("tiny-test", "0-3", 3, 32), "truncation 3.0 is outside [0, 2]"),
    ("/generate", ("tiny-test", "0", 1.0, 48),
     "cannot produce 48px images; choose one of [32, 64]"),
    ("/generate", ("no-such-model", "0", 1.0, 32), "no-such-model is not in the list of choices"),
    ("/generate", ("tiny-stylegan2", "0", 1.0, 32), "tiny-stylegan2 is not in the list"),  # hidden
    ("/generate", ("tiny-test", "0-40", 1.0, 32), "at most 32"),
    ("/mix", ("tiny-test", 0, 1, 0, 30, 1.0, 32), "W+ layers 0..30 are outside 0..10"),
    ("/mix", ("tiny-test", 0, 1, 5, 2, 1.0, 32), "'from' must not be above 'to'"),
    ("/mix", ("tiny-test", -1, 1, 0, 3, 1.0, 32), "Value -1 is less than minimum value 0"),
    ("/mix", ("tiny-test", 2.7, 1, 0, 3, 1.0, 32), "a seed must be a whole number"),

    ("/interpolate", ("tiny-test", 0, 1, 4, "W+", 0, 11, 1.0, 32), "W+ layers 0..11"),
]


@pytest.mark.parametrize("api_name, args, message", BAD_INPUTS)
def test_bad_input_gives_friendly_error(client: Client, hub: Hub, api_name: str, args: tuple,
                                        message: str) -> None:
    with pytest.raises(AppError, match=re.escape(message)) as info:
        client.predict(*args, api_name=api_name)
    assert "Traceback" not in str(info.value)
    assert hub.alive()
    assert len(client.predict("tiny-test", "1", 1.0, 32, api_name="/generate")) == 1


# JSON has no NaN/Infinity, but Python's json module (and so a raw API call) sends them
RAW_BAD_NUMBERS = [
    ("mix", '["tiny-test", NaN, 1, 0, 3, 1.0, 32]', "a seed must be a whole number"),
    ("mix", '["tiny-test", 0, 1, 0, 3, Infinity, 32]', "outside [0, 2]"),
    ("mix", '["tiny-test", 1e400, 1, 0, 3, 1.0, 32]', "a seed must be a whole number"),
    ("interpolate", '["tiny-test", 0, 1, Infinity, "W", 0, 3, 1.0, 32]',
     "Value inf is greater than maximum value 16"),
    ("mix", '["tiny-test", 0, 1, NaN, 3, 1.0, 32]', "W+ layer 'from' must be a whole number"),
]


@pytest.mark.parametrize("api_name, body, message", RAW_BAD_NUMBERS)
def test_non_finite_numbers_get_a_message(hub: Hub, api_name: str, body: str, message: str):
    kind, text = api_event(hub.url, api_name, f'{{"data": {body}}}')
    assert kind == "error" and message in text and "Traceback" not in text, (kind, text)
    assert hub.alive()


def test_select_model_fits_controls(client: Client) -> None:
    # the session's "current model" state is not part of the API answer
    _, info, size, psi, start, stop = client.predict("tiny-test", "tiny-test",
                                                     api_name="/select_model")
    assert "tiny-test" in info and psi["value"] == 1.0
    assert [value for _, value in size["choices"]] == [32, 64] and size["value"] == 64
    assert start["maximum"] == stop["maximum"] == 10


def test_hub_model_offline_says_what_to_download(client: Client, hub: Hub) -> None:
    if importlib.util.find_spec("stylelab.models.checkpoints") is None:
        pytest.skip("stylelab.models.checkpoints (StyleGAN2 pickle loader) is not in this checkout")
    # a model that cannot load offline: the picker goes back to the working model, the
    # controls are left alone (the browser test checks the message shown to people)
    # offline, download-only models are not offered: Gradio refuses them by name
    with pytest.raises(AppError, match="stylegan2-ffhq-256 is not in the list of choices"):
        client.predict("stylegan2-ffhq-256", "tiny-test", api_name="/select_model")
    assert hub.alive()
    assert len(client.predict("tiny-test", "1", 1.0, 32, api_name="/generate")) == 1


@pytest.mark.weights
@pytest.mark.slow
def test_real_model_generates_256px_faces(real_hub: Hub, tmp_path: Path) -> None:
    client = Client(real_hub.url, verbose=False, download_files=str(tmp_path))
    items = client.predict("mobilestylegan-ffhq", "0-1", 0.7, 256, api_name="/generate")
    assert [item["caption"] for item in items] == ["seed 0, ψ 0.7", "seed 1, ψ 0.7"]
    for item in items:
        pixels = png(item["image"], (256, 256))
        assert pixels.std() > 20  # a rendered face, not a flat or broken image
