"""Shared fixtures. Tests never touch the network: HF_HUB_OFFLINE=1, no analytics."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session", autouse=True)
def _stylelab_cache(tmp_path_factory):
    """A cache for this session unless STYLELAB_CACHE is set (then converted weights are reused)."""
    if not os.environ.get("STYLELAB_CACHE"):
        os.environ["STYLELAB_CACHE"] = str(tmp_path_factory.mktemp("stylelab-cache"))
    yield


@pytest.fixture(scope="session")
def tiny():
    from stylelab import load_generator

    return load_generator("tiny-test")


@pytest.fixture(scope="session")
def mobile():
    """The real embedded MobileStyleGAN-FFHQ (converted from the random-face IR on first use)."""
    from stylelab import load_generator

    return load_generator("mobilestylegan-ffhq")
