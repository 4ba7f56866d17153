"""Constructed text-image models with known answers (no CLIP weights exist offline)."""

from __future__ import annotations

import pytest
from planted import PLANTED, SIZE


@pytest.fixture(scope="session")
def planted_clip(tiny):
    from stylelab.testing.clip import PlantedChannelsClip

    return PlantedChannelsClip(tiny, PLANTED, image_size=32, distractors=16, render_size=SIZE)


@pytest.fixture(scope="session")
def tiny_relevance(tiny, planted_clip):
    from stylelab.styleclip import RelevanceConfig, channel_relevance

    return channel_relevance(tiny, planted_clip, RelevanceConfig(faces=8, rank=64, size=SIZE),
                             progress=False)


@pytest.fixture(scope="session")
def face_attributes(faceapi_dir):
    from stylelab.faces.faceapi import FaceAttributes

    return FaceAttributes(faceapi_dir)


@pytest.fixture(scope="session")
def face_clip(face_attributes):
    """Embedding = face-api.js happiness / age / gender axes plus 8 smooth pixel read-outs.
    The pixel axes anchor image content: with the measures alone, optimising one face
    finds a flat image the expression net calls happy."""
    from stylelab.testing.clip import FaceMeasureClip

    return FaceMeasureClip(face_attributes, distractors=8)


@pytest.fixture(scope="session")
def face_clip_measures_only(face_attributes):
    """The measures alone: a mapper trained against pixel read-outs learns to fade images
    (lower contrast shrinks every read-out), so mapper tests use this one."""
    from stylelab.testing.clip import FaceMeasureClip

    return FaceMeasureClip(face_attributes, distractors=0)
