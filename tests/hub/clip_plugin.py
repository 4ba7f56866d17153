"""A STYLELAB_PLUGINS module for hub tests: registers a constructed CLIP model whose right
answer is known ("alpha"/"beta"/"gamma" read planted S channels of tiny-test)."""

from __future__ import annotations

import dataclasses

from stylelab import CacheError, load_generator
from stylelab.clip import register_clip
from stylelab.registry import ModelSpec, register_generator
from stylelab.testing import TINY_SPECS
from stylelab.testing.clip import PlantedChannelsClip

PLANTED_CLIP = "test:planted-tiny"
PLANTED = {"alpha": 5, "beta": 40, "gamma": 100}


def _planted() -> PlantedChannelsClip:
    return PlantedChannelsClip(load_generator("tiny-test"), PLANTED, image_size=32,
                               distractors=16, render_size=64)


register_clip(PLANTED_CLIP, _planted, "constructed: reads planted tiny-test S channels")


# Two visible generators, so the browser can switch models: one that loads (a tiny StyleGAN2
# under a plugin name) and one whose weights are missing (its pick must be undone).
def _broken(spec: ModelSpec):
    raise CacheError("weights for plugin-broken are missing: this test model never loads")


register_generator(dataclasses.replace(TINY_SPECS[1], name="plugin-stylegan2", hidden=False))
register_generator(ModelSpec("plugin-broken", "a plugin whose weights are missing",
                             "stylegan2", 32, "plugin"), _broken)
