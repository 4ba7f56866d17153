"""The Edit tab through gradio_client: sliders change the face, bad input gives clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from conftest import Hub
    from gradio_client import Client

from functools import cache

from stylelab.pipelines.edit import EditPipeline


@cache
def get_edit_pipeline(model: str) -> EditPipeline:
    return EditPipeline.from_name(model)


def slider_keys(model: str) -> list[str]:
    return [s.key for s in get_edit_pipeline(model).sliders()]


def call_edit(client: Client, model: str, values: dict[str, float], *, seed=0, start=0,
              stop=None, conditions=(), source="Seed", custom_value=0.0, region="whole image"):
    keys = slider_keys(model)
    unknown = set(values) - set(keys)
    assert not unknown, unknown
    stop = stop if stop is not None else get_edit_pipeline(model).G.num_ws - 1
    strengths = [values.get(k, 0.0) for k in keys] + [custom_value]
    return client.predict(model, source, seed, 0.7, start, stop, list(conditions), region,
                          *strengths, api_name="/edit")


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


@pytest.fixture(scope="module")
def client(hub: Hub):
    from gradio_client import Client

    return Client(hub.url, verbose=False)


def test_ganspace_slider_changes_the_face(client: Client) -> None:
    before, same = call_edit(client, "tiny-test", {})
    assert Path(before).suffix == ".png"
    assert np.abs(pixels(before) - pixels(same)).mean() < 0.5  # no edit: same face
    _, after = call_edit(client, "tiny-test", {"ganspace/pc0": 3.0})
    assert np.abs(pixels(before) - pixels(after)).mean() > 2.0


def test_slider_endpoint_returns_the_edited_face(client: Client) -> None:
    keys = slider_keys("tiny-test")
    values = [0.0] * (len(keys) + 1)
    values[keys.index("ganspace/pc0")] = 3.0
    after = client.predict("tiny-test", "Seed", 0, 0.7, 0, 10, [], "whole image", *values,
                           api_name="/slider")
    _, expected = call_edit(client, "tiny-test", {"ganspace/pc0": 3.0})
    assert np.abs(pixels(after) - pixels(expected)).mean() < 0.5


def test_layer_range_limits_the_edit(client: Client) -> None:
    _, all_layers = call_edit(client, "tiny-test", {"ganspace/pc1": 4.0})
    _, last_layer = call_edit(client, "tiny-test", {"ganspace/pc1": 4.0}, start=5, stop=5)
    before, _ = call_edit(client, "tiny-test", {})
    full = np.abs(pixels(all_layers) - pixels(before)).mean()
    fine = np.abs(pixels(last_layer) - pixels(before)).mean()
    assert fine < full


@pytest.mark.parametrize("kwargs, message", [
    ({"values": {"ganspace/pc0": 99.0}}, "strength must be within"),
    ({"values": {}, "start": 4, "stop": 1}, "'from' must not be above 'to'"),
    ({"values": {}, "start": 0, "stop": 11}, "outside 0..10"),
    ({"values": {}, "seed": 2.5}, "whole number"),
    ({"values": {}, "custom_value": 2.0}, "needs a custom direction"),
    ({"values": {}, "source": "Inverted face (Invert tab)"}, "no inverted face yet"),
])
def test_bad_edit_input(client: Client, hub: Hub, kwargs: dict, message: str) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message):
        call_edit(client, "tiny-test", **kwargs)
    assert hub.alive()


def test_custom_direction_needs_photos(client: Client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="at least 2 photos"):
        client.predict("tiny-test", [], [], "glasses", 10, api_name="/custom_direction")


@pytest.mark.weights
def test_real_model_named_edits(real_hub: Hub) -> None:
    """On the real model the shipped smile direction makes the face change around the mouth."""
    from gradio_client import Client

    client = Client(real_hub.url, verbose=False)
    before, after = call_edit(client, "mobilestylegan-ffhq", {"interfacegan/smile": 3.0})
    diff = np.abs(pixels(before) - pixels(after)).mean(-1)
    assert diff.shape == (256, 256) and diff.mean() > 1.0
    lower, upper = diff[150:210, 80:176].mean(), diff[20:80].mean()
    assert lower > upper  # the mouth region moves more than the forehead/hair


def test_region_keeps_the_edit_inside(client: Client) -> None:
    """"Edit only inside: mouth": the outside stays pixel-identical (the tiny faces have no
    dlib face: the average face's mouth region is used)."""
    before, whole = call_edit(client, "tiny-test", {"ganspace/pc0": 3.0})
    _, inside = call_edit(client, "tiny-test", {"ganspace/pc0": 3.0}, region="mouth")
    a, b, c = pixels(before), pixels(whole), pixels(inside)
    changed = np.abs(c - a).sum(-1) > 6
    assert changed.any() and changed.mean() < 0.5 * (np.abs(b - a).sum(-1) > 6).mean()
    rows = np.nonzero(changed.any(1))[0]
    assert rows.min() > a.shape[0] // 2  # the mouth is in the lower half of an aligned face
    with pytest.raises(Exception, match="not in the list of choices"):
        call_edit(client, "tiny-test", {"ganspace/pc0": 3.0}, region="elbow")
