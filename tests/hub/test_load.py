"""The hub under concurrent load (loopback only, bounded): 20 clients x 10 requests mixing
/generate and /slider, each with its own seed. No errors, every image equal to a serial
render of the same request (no user sees another user's face), and the server's memory back
within a bound after the load and after the sessions expired. Latency is reported by
``benchmarks/hub_load.py``, not asserted here."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from hub_load import describe, rss_mb, run_load, serial_mismatches  # noqa: E402

if TYPE_CHECKING:
    from conftest import Hub

pytestmark = pytest.mark.slow

SESSION_TTL_S = 6  # the load_hub fixture's STYLELAB_HUB_SESSION_TTL
RSS_GROWTH_MB = 250  # allowed growth of the server over its warmed-up size


def test_twenty_clients_get_their_own_images(load_hub: Hub) -> None:
    target = describe("tiny-test")
    run_load(load_hub.url, target, clients=2, requests=2)
    base = rss_mb(load_hub.proc.pid)
    result = run_load(load_hub.url, target, clients=20, requests=10)
    assert result.errors == []
    assert len(result.images) == 200
    assert serial_mismatches(load_hub.url, target, result) == []
    assert rss_mb(load_hub.proc.pid) < base + RSS_GROWTH_MB
    time.sleep(SESSION_TTL_S + 2)
    assert rss_mb(load_hub.proc.pid) < base + RSS_GROWTH_MB
    assert load_hub.alive()
