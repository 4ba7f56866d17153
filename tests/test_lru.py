"""The shared LRU cache: order, bounds, one make() per key under concurrency."""

import threading
import time

import pytest

from stylelab.lru import LRUCache


def test_least_recently_used_goes_first():
    c = LRUCache(2)
    c.get_or_create("a", lambda: 1)
    c.get_or_create("b", lambda: 2)
    assert c.get("a") == 1  # a is now the most recent
    c.get_or_create("c", lambda: 3)
    assert c.keys() == ["a", "c"] and c.get("b") is None


def test_capacity_from_a_function_and_custom_bound():
    size = [3]
    c = LRUCache(lambda: size[0])
    for k in "abcd":
        c.put(k, k)
    assert c.keys() == ["b", "c", "d"]
    size[0] = 1
    c.put("e", "e")
    assert c.keys() == ["e"]
    by_clip = LRUCache(too_many=lambda keys: len({clip for _, clip in keys}) > 2)
    for key in [("g1", "c1"), ("g2", "c1"), ("g1", "c2"), ("g1", "c3")]:
        by_clip.put(key, 0)
    assert by_clip.keys() == [("g1", "c2"), ("g1", "c3")]
    by_clip.discard(lambda key: key[1] != "c2")
    assert by_clip.keys() == [("g1", "c3")]


def test_one_make_per_key_and_failures_are_not_cached():
    c = LRUCache(4)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.05)
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(c.get_or_create("k", slow)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and all(g is got[0] for g in got)
    with pytest.raises(RuntimeError):
        c.get_or_create("bad", lambda: (_ for _ in ()).throw(RuntimeError("no")))
    assert "bad" not in c and c.get_or_create("bad", lambda: 5) == 5
