"""Slider latency of the Edit tab, measured through gradio_client against a launched hub.

Each call is what releasing a slider does: one /slider request whose strength differs from
the previous one, answered with the edited ("after") PNG at 256px. As a same-run reference,
the in-process render of the same edit (EditPipeline.render) is timed too; the ratio
shows the hub's overhead (HTTP, queue, PNG encoding, file transfer).

    python benchmarks/edit_latency.py [--calls 21] [--json benchmarks/results/edit_latency.json]

Target: median <= 250 ms per slider release on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = "mobilestylegan-ffhq"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(port: int, workdir: Path) -> subprocess.Popen:
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False",
               HF_HUB_OFFLINE="1", STYLELAB_MODEL=MODEL, GRADIO_TEMP_DIR=str(workdir))
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the hub did not start within 300 s")


def main() -> None:
    ap = argparse.ArgumentParser(description="Edit-tab slider latency")
    ap.add_argument("--calls", type=int, default=21)
    ap.add_argument("--slider", default="interfacegan/smile")
    ap.add_argument("--json", default="benchmarks/results/edit_latency.json")
    args = ap.parse_args()
    from gradio_client import Client

    from stylelab.pipelines.edit import EditPipeline

    pipe = EditPipeline.from_name(MODEL)
    keys = [s.key for s in pipe.sliders()]
    slot = keys.index(args.slider)
    w = pipe.seed_latent(0, 0.7)
    strengths = [(-1) ** i * (0.5 + 0.1 * i) for i in range(args.calls)]
    direct = []
    for value in strengths:
        start = time.perf_counter()
        pipe.render(w, {args.slider: value})
        direct.append(time.perf_counter() - start)

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = launch(port, Path(tmp))
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False,
                            download_files=str(Path(tmp) / "dl"))
            values = [0.0] * (len(keys) + 1)
            hub = []
            for i, value in enumerate([0.0, *strengths]):  # first call warms the tab up
                values[slot] = value
                start = time.perf_counter()
                client.predict(MODEL, "Seed", 0, 0.7, 0, pipe.G.num_ws - 1, [], "whole image",
                               *values, api_name="/slider")
                if i:
                    hub.append(time.perf_counter() - start)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    med_hub, med_direct = statistics.median(hub) * 1000, statistics.median(direct) * 1000
    print(f"{'path':28} {'median ms':>10} {'p90 ms':>8}")
    for name, xs in (("hub /slider (gradio_client)", hub), ("in-process render", direct)):
        p90 = sorted(xs)[int(0.9 * (len(xs) - 1))] * 1000
        print(f"{name:28} {statistics.median(xs) * 1000:10.1f} {p90:8.1f}")
    print(f"ratio hub / in-process: {med_hub / med_direct:.2f}; target: hub median <= 250 ms")
    result = {"calls": args.calls, "slider": args.slider, "hub_ms": [x * 1000 for x in hub],
              "direct_ms": [x * 1000 for x in direct], "hub_median_ms": med_hub,
              "direct_median_ms": med_direct, "target_ms": 250}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    print("wrote", args.json)


if __name__ == "__main__":
    main()
