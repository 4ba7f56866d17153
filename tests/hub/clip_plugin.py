"""A STYLELAB_PLUGINS module for hub tests: registers a constructed CLIP model whose right
answer is known ("alpha"/"beta"/"gamma" read planted S channels of tiny-test)."""

from __future__ import annotations

from stylelab import load_generator
from stylelab.clip import register_clip
from stylelab.testing.clip import PlantedChannelsClip

PLANTED_CLIP = "test:planted-tiny"
PLANTED = {"alpha": 5, "beta": 40, "gamma": 100}


def _planted() -> PlantedChannelsClip:
    return PlantedChannelsClip(load_generator("tiny-test"), PLANTED, image_size=32,
                               distractors=16, render_size=64)


register_clip(PLANTED_CLIP, _planted, "constructed: reads planted tiny-test S channels")
