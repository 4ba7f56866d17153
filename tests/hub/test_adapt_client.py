"""The Adapt tab through gradio_client: adapt the tiny model, compare, apply, save, reload."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

if TYPE_CHECKING:
    from conftest import Hub
    from gradio_client import Client

DIFA = "DiFa (reference image)"
JOJO = "JoJoGAN-style (reference face)"
NADA = "StyleGAN-NADA (texts)"


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


@pytest.fixture(scope="module")
def client(hub: Hub):
    from gradio_client import Client

    return Client(hub.url, verbose=False)


def adapt(client: Client, method: str = DIFA, upload=None, example: str | None = "sepia",
          source: str = "photo", target: str = "smiling", clip: str | None = None,
          steps: float = 3):
    return client.predict("tiny-test", method, upload, example, source, target, clip, steps,
                          api_name="/adapt")


@pytest.fixture(scope="module")
def adapted(client: Client):
    return adapt(client)


def test_adapt_returns_parent_and_child_grid(adapted) -> None:
    grid, summary = adapted  # the session keeps the adapted weights (gr.State)
    image = pixels(grid)
    assert image.shape == (256, 1024, 3)  # 2 rows x 8 seeds at 128 px
    top, bottom = image[:128], image[128:]
    assert np.abs(top - bottom).mean() > 0.1  # the child differs from the parent
    assert "difa: 3 steps" in summary and "no face found" in summary  # tiny faces: said


def test_apply_and_save(client: Client, hub: Hub, adapted) -> None:
    from gradio_client import handle_file  # noqa: F401  (API import check)

    before, after, note = client.predict("tiny-test", "Seed", 5, 0.7, api_name="/adapt_apply")
    assert np.abs(pixels(before) - pixels(after)).mean() > 0.1
    message, picker = client.predict("tiny-test", "tiny-sepia", api_name="/adapt_save")
    assert "adapted:tiny-sepia" in message
    assert (hub.log.parent / "cache" / "adapted" / "tiny-sepia" / "adapted.json").is_file()
    with pytest.raises(Exception, match="exists"):
        client.predict("tiny-test", "tiny-sepia", api_name="/adapt_save")
    with pytest.raises(Exception, match="letters, digits"):
        client.predict("tiny-test", "../evil", api_name="/adapt_save")
    # the saved child is a model: generate with it
    images = client.predict("adapted:tiny-sepia", "0-1", 0.7, "64", api_name="/generate")
    assert len(images) == 2


def test_nada_with_the_constructed_clip(client: Client) -> None:
    grid, summary = adapt(client, NADA, example=None, source="beta",
                                 target="alpha", clip="test:planted-tiny")
    assert "nada" in summary


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"steps": 0}, "steps"),
    ({"steps": 10_000}, "steps"),
    ({"example": None}, "upload a reference"),
    ({"example": "watercolour"}, "not in the list of choices"),
    ({"method": NADA, "source": "alpha", "target": "alpha", "clip": "test:planted-tiny"}, "same"),
    ({"method": NADA, "clip": "no-such-clip"}, "not in the list of choices"),
    ({"method": "CycleGAN"}, "not in the list of choices"),
])
def test_bad_input_is_explained(client: Client, hub: Hub, kwargs: dict, message: str) -> None:
    with pytest.raises(Exception, match=message):
        adapt(client, **kwargs)
    assert hub.alive()


def test_not_an_image_reference(client: Client, hub: Hub, tmp_path) -> None:
    from gradio_client import handle_file

    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(Exception, match="not an image"):
        adapt(client, upload=handle_file(str(bad)))
    assert hub.alive()


def test_jojo_with_preserved_colour(hub: Hub) -> None:
    from gradio_client import Client, handle_file

    from stylelab.pipelines.invert import example_photos

    fresh = Client(hub.url, verbose=False)  # its own session: the shared one stays DiFa's
    photo = handle_file(str(example_photos()[0]))  # JoJoGAN inverts a face: a real one
    grid, summary = fresh.predict("tiny-test", JOJO, photo, None, "photo", "smiling", None, 2,
                                  True, api_name="/adapt")
    assert "jojo: 2 steps" in summary
    assert pixels(grid).shape == (256, 1024, 3)


def test_apply_before_adapting_is_explained(hub: Hub) -> None:
    from gradio_client import Client

    fresh = Client(hub.url, verbose=False)  # a new session: nothing adapted yet
    with pytest.raises(Exception, match="adapt the model first"):
        fresh.predict("tiny-test", "Seed", 5, 0.7, api_name="/adapt_apply")


PARENT_SHAPE, CHILD_SHAPE = "parent (photo domain)", "adapted model"


def mix(client: Client, model: str = "tiny-test", shape: str = PARENT_SHAPE, cut: float = 3,
        softness: float = 0):
    return client.predict(model, "Seed", 5, 0.7, shape, cut, softness, api_name="/adapt_mix")


def test_mix_domains_ends_are_the_two_models(client: Client, adapted) -> None:
    before, after, _ = client.predict("tiny-test", "Seed", 5, 0.7, api_name="/adapt_apply")
    parent, child = pixels(before), pixels(after)
    all_child = pixels(mix(client, cut=0))              # every layer from the adapted model
    all_parent = pixels(mix(client, cut=11))            # tiny-test has 11 W+ entries
    assert np.abs(all_child - child).mean() < 1 and np.abs(all_parent - parent).mean() < 1
    middle = pixels(mix(client, cut=3))
    assert np.abs(middle - parent).mean() > 0.1 and np.abs(middle - child).mean() > 0.1
    flipped = pixels(mix(client, shape=CHILD_SHAPE, cut=3, softness=1))
    assert np.abs(flipped - middle).mean() > 0.1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cut": 99}, "cut must be between 0 and 11"),
    ({"cut": -1}, "cut must be between"),
    ({"softness": -2}, "softness"),
    ({"shape": "nobody"}, "not in the list of choices"),
])
def test_mix_bad_input_is_explained(client: Client, hub: Hub, adapted, kwargs: dict,
                                    message: str) -> None:
    with pytest.raises(Exception, match=message):
        mix(client, **kwargs)
    assert hub.alive()


def test_mix_needs_an_adapted_model(hub: Hub) -> None:
    from gradio_client import Client

    fresh = Client(hub.url, verbose=False)
    with pytest.raises(Exception, match="adapt the model first, or pick a saved adapted"):
        mix(fresh)


def test_mix_a_saved_child_with_its_parent(client: Client, adapted) -> None:
    client.predict("tiny-test", "tiny-mixable", api_name="/adapt_save")
    # the session's result belongs to tiny-test: the saved child is mixed with its parent
    shape_parent = pixels(mix(client, model="adapted:tiny-mixable", cut=3))
    assert np.abs(shape_parent - pixels(mix(client, cut=3))).mean() < 1  # the same pair
    child_only = pixels(mix(client, model="adapted:tiny-mixable", cut=0))
    assert np.abs(child_only - shape_parent).mean() > 0.1
