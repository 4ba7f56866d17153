"""The Local edit tab through gradio_client: a region transplant stays inside its mask."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from conftest import Hub
    from gradio_client import Client


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


@pytest.fixture(scope="module")
def client(hub: Hub):
    from gradio_client import Client

    return Client(hub.url, verbose=False)


def call(client: Client, region: str = "mouth", layer: str = "auto", keep: bool = True,
         reference: float = 7, model: str = "tiny-test"):
    return client.predict(model, "Seed", 3, 0.7, reference, region, None, layer, keep,
                          api_name="/local_edit")


def test_transplant_changes_only_the_region(client: Client) -> None:
    before, after, mask, notes = call(client, "mouth", "b1")
    b, a, m = pixels(before), pixels(after), pixels(mask)[..., 0] / 255
    assert b.shape == a.shape == (64, 64, 3)
    assert np.abs(a - b)[m > 0.5].mean() > 1.0
    assert np.abs(a - b)[m < 0.01].max() <= 1  # outside: identical up to PNG rounding
    assert "layer **b1**" in notes and "average aligned face" in notes  # tiny faces: no dlib


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"region": "ears"}, "not in the list of choices"),
    ({"region": "Painted mask (draw below)"}, "paint the region first"),
    ({"layer": "b9"}, "not in the list of choices"),
    ({"reference": -1}, "less than minimum"),
])
def test_bad_input_is_explained(client: Client, hub: Hub, kwargs: dict, message: str) -> None:
    with pytest.raises(Exception, match=message):
        call(client, **kwargs)
    assert hub.alive()
