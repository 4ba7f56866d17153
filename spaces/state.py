"""Per-user state of the hub, bounded in time and in total.

* Small values (the inverted latent, the custom direction) live in each session's own
  ``gr.State`` with a time to live (:data:`LIMITS.session_ttl_s`).
* Large values (a PTI weight delta, about 30 MB for MobileStyleGAN) live in
  :data:`HEAVY`, a store keyed by random per-result tokens: at most
  :data:`LIMITS.max_heavy` entries, each dropped after the same time to live, oldest first.
  The session's state keeps only the token; an expired token gets a clear message.
* Cancel flags are keyed by Gradio's per-page ``session_hash``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from typing import Any

from .limits import LIMITS


class ExpiringStore:
    """A thread-safe dict with a time to live and a maximum size (oldest evicted first)."""

    def __init__(self, ttl_s: float, max_items: int):
        self.ttl_s, self.max_items = ttl_s, max_items
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, value: Any) -> str:
        """Store ``value``; returns its new token."""
        token = secrets.token_hex(16)
        with self._lock:
            self._expire()
            self._items[token] = (time.monotonic(), value)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return token

    def get(self, token: str | None) -> Any | None:
        """The value, or None when the token is unknown or expired (a get refreshes it)."""
        with self._lock:
            self._expire()
            if token not in self._items:
                return None
            _, value = self._items.pop(token)
            self._items[token] = (time.monotonic(), value)
            return value

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._items.pop(token, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._items)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._items:
            token, (stamp, _) = next(iter(self._items.items()))
            if now - stamp <= self.ttl_s:
                break
            del self._items[token]


HEAVY = ExpiringStore(LIMITS.session_ttl_s, LIMITS.max_heavy)


class CancelFlags:
    """One cancel flag per browser session (``gr.Request.session_hash``)."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str | None) -> threading.Event:
        """A fresh, unset flag for a job of ``session``."""
        flag = threading.Event()
        with self._lock:
            self._flags[session or ""] = flag
        return flag

    def cancel(self, session: str | None) -> bool:
        """Set the running job's flag; False when the session runs nothing."""
        with self._lock:
            flag = self._flags.pop(session or "", None)
        if flag is None:
            return False
        flag.set()
        return True

    def finish(self, session: str | None, flag: threading.Event) -> None:
        with self._lock:
            if self._flags.get(session or "") is flag:
                del self._flags[session or ""]


CANCEL = CancelFlags()


def inverted_state(model: str, result) -> dict:
    """The session value for an inversion result: the latent (and a CLCAE inversion's F
    features, about 2 MB) inline, a PTI delta by token."""
    token = HEAVY.put(result.generator_delta) if result.generator_delta else None
    return {"model": model, "space": result.space, "latent": result.latent,
            "method": result.method, "delta_token": token,
            "features": result.features}


def inverted_delta(state: dict) -> dict | None:
    """The PTI delta of an inverted face, None for W/W+; ValueError when it expired."""
    token = state.get("delta_token")
    if token is None:
        return None
    delta = HEAVY.get(token)
    if delta is None:
        raise ValueError("the PTI-tuned weights of the inverted face have expired "
                         f"(kept {LIMITS.session_ttl_s // 60:g} min, at most {LIMITS.max_heavy} "
                         "faces at once): invert the photo again")
    return delta
