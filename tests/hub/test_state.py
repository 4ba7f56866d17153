"""The hub's per-user state helpers: bounded, expiring, keyed by content or random tokens."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from spaces.state import CancelFlags, ExpiringStore, inverted_delta  # noqa: E402
from stylelab.hashing import content_digest  # noqa: E402


def test_store_expires_and_is_bounded():
    store = ExpiringStore(ttl_s=0.2, max_items=2)
    a, b, c = store.put("a"), store.put("b"), store.put("c")
    assert store.get(a) is None and store.get(b) == "b" and store.get(c) == "c"  # oldest out
    assert len({a, b, c}) == 3 and len(store) == 2
    time.sleep(0.3)
    assert store.get(b) is None and len(store) == 0


def test_expired_pti_delta_says_what_to_do(monkeypatch):
    import spaces.state as state

    monkeypatch.setattr(state, "HEAVY", ExpiringStore(ttl_s=60, max_items=1))
    assert inverted_delta({"delta_token": None}) is None
    token = state.HEAVY.put({"w": torch.ones(2)})
    assert inverted_delta({"delta_token": token})["w"].sum() == 2
    state.HEAVY.put({"w": torch.zeros(2)})  # another session's face pushes it out
    with pytest.raises(ValueError, match="expired.*invert the photo again"):
        inverted_delta({"delta_token": token})


def test_cancel_reaches_only_its_own_session():
    flags = CancelFlags()
    mine, theirs = flags.start("me"), flags.start("you")
    assert flags.cancel("me") and mine.is_set() and not theirs.is_set()
    assert not flags.cancel("me")  # nothing left to cancel
    flags.finish("you", theirs)
    assert not flags.cancel("you")


def test_content_keys_never_collide_for_different_faces():
    """id() of freed tensors is reused; content digests are not."""
    keys = set()
    for seed in range(200):
        w = torch.randn(1, 8, generator=torch.Generator().manual_seed(seed))
        keys.add(content_digest("m", w))
        del w
    assert len(keys) == 200
    w = torch.randn(1, 8)
    assert content_digest("m", w) == content_digest("m", w.clone())


def test_cancel_flag_is_thread_safe():
    flags = CancelFlags()
    events = [flags.start(f"s{i}") for i in range(50)]
    threads = [threading.Thread(target=flags.cancel, args=(f"s{i}",)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(e.is_set() for e in events)
