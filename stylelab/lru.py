"""One thread-safe least-recently-used cache for every "keep the last few" in stylelab and the hub.

>>> cache = LRUCache(capacity=2)
>>> model = cache.get_or_create(key, lambda: load(key))

``make()`` runs outside the cache lock, under a per-key lock: two threads asking for the same
missing key load it once, while other keys load concurrently. Keys must describe content
(a name, a digest), never ``id()`` of an object.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUCache(Generic[K, V]):
    """At most ``capacity`` entries (an int, or a function read at each insertion, e.g. from
    an environment variable); ``too_many(keys)`` replaces the count when eviction depends on
    the keys themselves (e.g. "at most 2 distinct CLIP models"). Oldest entries go first."""

    def __init__(self, capacity: int | Callable[[], int] = 8,
                 too_many: Callable[[list[K]], bool] | None = None):
        self._capacity = capacity
        self._too_many = too_many
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[K, threading.Lock] = {}

    @property
    def capacity(self) -> int:
        return self._capacity() if callable(self._capacity) else self._capacity

    def get(self, key: K) -> V | None:
        """The entry (now the most recent), or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def get_or_create(self, key: K, make: Callable[[], V]) -> V:
        """The entry for ``key``, made by ``make()`` (once, however many threads ask) if
        missing. An exception from ``make`` leaves the cache unchanged."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            value = make()
            self.put(key, value)
        with self._lock:
            self._key_locks.pop(key, None)
        return value

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > 1 and self._over():
                self._items.popitem(last=False)

    def _over(self) -> bool:
        if self._too_many is not None:
            return self._too_many(list(self._items))
        return len(self._items) > max(1, self.capacity)

    def discard(self, keep: Callable[[K], bool]) -> None:
        """Drop every entry whose key fails ``keep(key)``."""
        with self._lock:
            for key in [k for k in self._items if not keep(k)]:
                del self._items[key]

    def keys(self) -> list[K]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items
