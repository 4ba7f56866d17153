"""The hub under load: N concurrent users, each sending R requests that mix
``/generate`` (its own seed, one face) and ``/slider`` (its own seed, its own strength),
against a hub launched on loopback. Reports p50/p90 per endpoint, errors, whether every
image equals a serial render of that user's own request, and the server's memory (RSS)
before, after the load and after the sessions expired.

    python benchmarks/hub_load.py [--clients 20] [--requests 10] [--model mobilestylegan-ffhq]

Each user is a thread speaking Gradio's HTTP API directly (POST the call, read the event
stream, download the PNG), which costs the shared 2-core CPU far less than a
``gradio_client.Client`` per user (about 175 ms of client CPU per request when measured).

Target (issue 11): ``/slider`` p50 <= 1 s with 20 clients on the 2-core CPU; 0 errors.
``tests/hub/test_load.py`` runs the same driver, bounded, on the tiny model.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


@dataclass
class LoadResult:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"generate": [],
                                                                       "slider": []})
    errors: list[str] = field(default_factory=list)
    images: dict[tuple, np.ndarray] = field(default_factory=dict)  # (client, kind, i) -> pixels
    seconds: float = 0.0

    def percentile(self, kind: str, q: float) -> float:
        xs = sorted(self.latencies[kind])
        return xs[min(len(xs) - 1, int(q * (len(xs) - 1) + 0.5))] * 1000 if xs else float("nan")


def pixels(source) -> np.ndarray:
    with Image.open(source) as image:
        return np.asarray(image.convert("RGB"))


class ApiError(RuntimeError):
    """The hub answered a request with an error event."""


def api_event(url: str, api: str, body: str, timeout: float = 300) -> tuple[str, str]:
    """POST ``body`` (JSON text: ``{"data": [...]}``, which may hold NaN or Infinity as an
    API caller could send) to ``/gradio_api/call/<api>`` and read the event stream; returns
    (the last event's kind, "complete" or "error", and its data text)."""
    request = urllib.request.Request(f"{url}gradio_api/call/{api.strip('/')}",
                                     data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        event_id = json.loads(resp.read())["event_id"]
    kind = data = ""
    with urllib.request.urlopen(f"{url}gradio_api/call/{api.strip('/')}/{event_id}",
                                timeout=timeout) as resp:
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = line.split(":", 1)[1].strip()
    return kind, data


def call(url: str, api: str, args: tuple, session: str | None = None,
         timeout: float = 300) -> np.ndarray:
    """One request over Gradio's HTTP API (in browser session ``session``, as a page keeps
    one; None starts a new one); the answered image's pixels."""
    body = json.dumps({"data": list(args), "session_hash": session})
    kind, data = api_event(url, api, body, timeout)
    if kind != "complete":
        raise ApiError(f"{api}: {kind} {data[:200]}")
    answer = json.loads(data)[0]
    file = answer[0]["image"] if isinstance(answer, list) else answer
    with urllib.request.urlopen(file["url"], timeout=timeout) as resp:
        return pixels(io.BytesIO(resp.read()))


@dataclass(frozen=True)
class Target:
    """The hub's model and what the requests need to know about it: W+ entries, the Edit
    tab's slider keys, and the Generate size (the size the Edit tab redraws at)."""

    model: str
    num_ws: int
    keys: tuple[str, ...]
    size: int


def request_args(target: Target, client: int, i: int):
    """(api_name, args) of request ``i`` of ``client``: its own seed, alternating endpoints."""
    seed = 1000 + client
    if i % 2 == 0:
        return "/generate", (target.model, str(seed), 0.7, target.size)
    # GANSpace sliders: shipped for the default model, computed in a second for any other
    movable = [k for k, key in enumerate(target.keys) if key.startswith("ganspace/")]
    strengths = [0.0] * (len(target.keys) + 1)
    strengths[movable[i % len(movable)]] = 1.0 + 0.25 * (client % 4)
    return "/slider", (target.model, "Seed", seed, 0.7, 0, target.num_ws - 1, [], "whole image",
                       *strengths)


def run_load(url: str, target: Target, clients: int = 20, requests: int = 10) -> LoadResult:
    """Drive the hub at ``url`` with ``clients`` threads of ``requests`` calls each."""
    result = LoadResult()
    lock = threading.Lock()

    def user(c: int) -> None:
        session = secrets.token_hex(8)  # one page: one session for all its requests
        for i in range(requests):
            api, args = request_args(target, c, i)
            start = time.perf_counter()
            try:
                image = call(url, api, args, session)
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                with lock:
                    result.errors.append(f"client {c} request {i}: {exc}")
                continue
            elapsed = time.perf_counter() - start
            with lock:
                result.latencies[api.strip("/")].append(elapsed)
                result.images[(c, i)] = image

    threads = [threading.Thread(target=user, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - start
    return result


def serial_mismatches(url: str, target: Target, result: LoadResult, max_diff: int = 2
                      ) -> list[str]:
    """Re-send each distinct request alone and compare: an image that differs by more than
    ``max_diff`` grey levels went to the wrong user (or was rendered wrongly under load)."""
    bad, seen = [], {}
    for (c, i), image in sorted(result.images.items()):
        api, args = request_args(target, c, i)
        key = (api, repr(args))
        if key not in seen:
            seen[key] = call(url, api, args)
        if image.shape != seen[key].shape or np.abs(
                image.astype(int) - seen[key].astype(int)).max() > max_diff:
            bad.append(f"client {c} request {i} ({api})")
    return bad


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(model: str, workdir: Path, env: dict[str, str] | None = None
           ) -> tuple[subprocess.Popen, str]:
    port = free_port()
    full = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
                HF_HUB_OFFLINE="1", STYLELAB_MODEL=model, GRADIO_TEMP_DIR=str(workdir),
                **(env or {}))
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the hub did not start within 300 s")


def describe(model: str) -> Target:
    """The :class:`Target` for ``model`` (loads it in this process)."""
    from stylelab.pipelines.edit import EditPipeline

    pipe = EditPipeline.from_name(model)
    return Target(model, pipe.G.num_ws, tuple(s.key for s in pipe.sliders()), pipe.size)


def main() -> None:
    ap = argparse.ArgumentParser(description="hub load benchmark (loopback only)")
    ap.add_argument("--model", default="mobilestylegan-ffhq")
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=10)
    ap.add_argument("--json", default="benchmarks/results/hub_load.json")
    args = ap.parse_args()
    target = describe(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = launch(args.model, Path(tmp), {"STYLELAB_HUB_SESSION_TTL": "20"})
        try:
            run_load(url, target, 1, 2)  # warm up
            base, cpu0, own0 = rss_mb(proc.pid), cpu_seconds(proc.pid), time.process_time()
            result = run_load(url, target, args.clients, args.requests)
            server_cpu = cpu_seconds(proc.pid) - cpu0
            client_cpu = time.process_time() - own0
            after = rss_mb(proc.pid)
            bad = serial_mismatches(url, target, result)
            time.sleep(25)
            expired = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"{args.clients} clients x {args.requests} requests, {args.model}: "
          f"{result.seconds:.1f} s, {len(result.errors)} errors, {len(bad)} wrong images")
    print(f"{'endpoint':10} {'n':>4} {'p50 ms':>8} {'p90 ms':>8}")
    for kind in ("slider", "generate"):
        print(f"{kind:10} {len(result.latencies[kind]):4d} {result.percentile(kind, 0.5):8.0f} "
              f"{result.percentile(kind, 0.9):8.0f}")
    print(f"server RSS MB: before {base:.0f}, after load {after:.0f}, after expiry {expired:.0f}")
    n = max(1, sum(len(v) for v in result.latencies.values()))
    print(f"CPU per request: server {server_cpu / n * 1000:.0f} ms, "
          f"clients (this process) {client_cpu / n * 1000:.0f} ms")
    print("target: /slider p50 <= 1000 ms, 0 errors")
    out = {"model": args.model, "clients": args.clients, "requests": args.requests,
           "seconds": result.seconds, "errors": result.errors, "wrong_images": bad,
           "p50_ms": {k: result.percentile(k, 0.5) for k in result.latencies},
           "p90_ms": {k: result.percentile(k, 0.9) for k in result.latencies},
           "rss_mb": {"before": base, "after": after, "after_expiry": expired},
           "cpu_ms_per_request": {"server": server_cpu / n * 1000,
                                  "clients": client_cpu / n * 1000}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    print("wrote", args.json)


if __name__ == "__main__":
    main()
