"""Call a hub endpoint over plain HTTP, as an API client that bypasses gradio_client would
(so bodies may hold what JSON forbids, such as NaN and Infinity)."""

from __future__ import annotations

import json
import urllib.request


def raw_call(hub, api_name: str, body: str, timeout: float = 120) -> tuple[str, str]:
    """POST ``{"data": <body>}`` to ``/gradio_api/call/<api_name>`` and read the streamed
    answer; returns (the last event's kind: "complete" | "error", its data text)."""
    request = urllib.request.Request(
        f"{hub.url}gradio_api/call/{api_name}", data=f'{{"data": {body}}}'.encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        event_id = json.loads(resp.read())["event_id"]
    kind, data = "", ""
    with urllib.request.urlopen(f"{hub.url}gradio_api/call/{api_name}/{event_id}",
                                timeout=timeout) as resp:
        for raw in resp:
            line = raw.decode().rstrip("\n")
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = line.split(":", 1)[1].strip()
    return kind, data
