"""The hub's render gate: one render at a time, slider releases first, no bulk render
waiting forever."""

import threading
import time

import pytest

from spaces.gate import BULK, INTERACTIVE, RenderGate


def run_in_order(gate: RenderGate, queued: list[tuple[str, int]]) -> list[str]:
    """Hold the gate, queue ``queued`` (name, priority) one after another, release; the
    order in which they got their place."""
    order, lock = [], threading.Lock()
    release = threading.Event()

    def holder() -> None:
        with gate.slot(BULK):
            release.wait(10)

    def worker(name: str, priority: int) -> None:
        with gate.slot(priority):
            with lock:
                order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    while gate.waiting or not gate.in_use:
        time.sleep(0.001)
    threads = []
    for name, priority in queued:
        threads.append(threading.Thread(target=worker, args=(name, priority)))
        threads[-1].start()
        deadline = time.monotonic() + 5
        while gate.waiting < len(threads) and time.monotonic() < deadline:
            time.sleep(0.001)
    release.set()
    for t in [first, *threads]:
        t.join(10)
    return order


def test_interactive_renders_go_first_then_first_come_first_served():
    order = run_in_order(RenderGate(), [("g1", BULK), ("s1", INTERACTIVE), ("g2", BULK),
                                        ("s2", INTERACTIVE)])
    assert order == ["s1", "s2", "g1", "g2"]


def test_bulk_render_passed_over_at_most_max_skips_times():
    queued = [("g", BULK)] + [(f"s{i}", INTERACTIVE) for i in range(5)]
    order = run_in_order(RenderGate(max_skips=2), queued)
    assert order.index("g") == 2  # passed over by s0 and s1, then counts as interactive
    assert [n for n in order if n != "g"] == ["s0", "s1", "s2", "s3", "s4"]


def test_one_render_at_a_time_and_places_come_back_after_errors():
    gate, inside, most = RenderGate(slots=1), [0], [0]
    lock = threading.Lock()

    def render(fail: bool) -> None:
        try:
            with gate.slot(INTERACTIVE if fail else BULK):
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.002)
                with lock:
                    inside[0] -= 1
                if fail:
                    raise RuntimeError("render failed")
        except RuntimeError:
            pass

    threads = [threading.Thread(target=render, args=(i % 3 == 0,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most[0] == 1 and gate.waiting == 0 and gate.in_use == 0
    with gate.slot():  # the place is free again
        pass


def test_bad_arguments():
    with pytest.raises(ValueError, match="slots"):
        RenderGate(slots=0)
    with pytest.raises(ValueError, match="priority"):
        with RenderGate().slot(5):
            pass
