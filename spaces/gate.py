"""The render gate: cheap renders take turns, slider releases first.

A 256 px render already keeps every core of a small CPU busy: two at once take longer per
image than two in turn (measured on the 2-core CPU: 75 ms alone, 93-118 ms per image when
2-4 run together), so renders hold one of ``slots`` places (default 1). While they wait,
interactive renders (an Edit slider release, the Edit button) go before bulk ones
(Generate's faces, style mixing, interpolation, local edits), so that dragging a slider
stays responsive while other people generate. No bulk render is passed over more than
``max_skips`` times (32: about 2.5 s of renders here), so none waits forever. Generate takes
one place per face, never one for a whole batch.

Requests wait here, not in Gradio's queue: the render events admit many at once
(``STYLELAB_HUB_RENDER_THREADS``), or the priority could only reorder the few admitted.
Measured with ``benchmarks/hub_load.py`` (20 clients, 2-core CPU): first come first served
gave ``/slider`` p50 1.9-2.2 s; this gate 0.19 s, at the price of ``/generate`` p50 2.4 ->
3.6 s.

Only the render itself holds a place: loading a model, computing a direction set, PNG
encoding and HTTP run outside the gate.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .limits import LIMITS

INTERACTIVE, BULK = 0, 1


@dataclass(eq=False)
class _Waiter:
    priority: int
    ticket: int
    skips: int = 0


class RenderGate:
    """At most ``slots`` renders at once; waiting ``INTERACTIVE`` renders before ``BULK``
    ones, first come first served within a class, and a ``BULK`` render that has been passed
    over ``max_skips`` times counts as interactive. Thread-safe."""

    def __init__(self, slots: int = 1, max_skips: int = 32) -> None:
        if slots < 1 or max_skips < 0:
            raise ValueError("slots must be >= 1 and max_skips >= 0")
        self.slots, self.max_skips = slots, max_skips
        self._free = slots
        self._waiting: list[_Waiter] = []
        self._tickets = itertools.count()
        self._cond = threading.Condition()

    def _rank(self, waiter: _Waiter) -> tuple[int, int]:
        aged = waiter.skips >= self.max_skips
        return (INTERACTIVE if aged else waiter.priority, waiter.ticket)

    def _next(self) -> _Waiter:
        return min(self._waiting, key=self._rank)

    @contextmanager
    def slot(self, priority: int = BULK) -> Iterator[None]:
        """Hold one place for the body (a render); ``priority`` is INTERACTIVE or BULK."""
        if priority not in (INTERACTIVE, BULK):
            raise ValueError(f"priority must be INTERACTIVE (0) or BULK (1), got {priority!r}")
        with self._cond:
            me = _Waiter(priority, next(self._tickets))
            self._waiting.append(me)
            try:
                self._cond.wait_for(lambda: self._free > 0 and self._next() is me)
            except BaseException:
                self._waiting.remove(me)
                self._cond.notify_all()
                raise
            self._waiting.remove(me)
            self._free -= 1
            for other in self._waiting:
                if other.ticket < me.ticket:
                    other.skips += 1
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()

    @property
    def in_use(self) -> int:
        """Places held now."""
        with self._cond:
            return self.slots - self._free

    @property
    def waiting(self) -> int:
        """Renders waiting for a place now."""
        with self._cond:
            return len(self._waiting)


#: the hub's one gate (``STYLELAB_HUB_RENDER_SLOTS`` places)
RENDERS = RenderGate(LIMITS.render_slots, max_skips=32)
