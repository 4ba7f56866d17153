"""The hub's server-side limits, each overridable by an environment variable.

API callers bypass the UI, so every endpoint checks these itself; the UI's sliders stop at
the same numbers. Defaults suit a shared 2-core CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"{name}={value!r}: expected a whole number") from None
    if number < 1:
        raise SystemExit(f"{name}={value!r}: must be at least 1")
    return number


@dataclass(frozen=True)
class HubLimits:
    max_steps: int  # inversion / text-edit steps per request (PTI: per phase)
    max_adapt_steps: int  # domain adaptation steps per request
    max_seeds: int  # faces per Generate request
    max_photos: int  # photos per set for a custom direction
    max_upload_mb: int  # largest uploaded file
    session_ttl_s: int  # how long an idle session's inverted face is kept
    max_heavy: int  # PTI weight deltas kept at once (about 30 MB each), all sessions together
    render_concurrency: int  # cheap render requests admitted at once (they wait in the gate)
    render_slots: int  # renders computed at once (spaces/gate.py: the rest wait, sliders first)
    job_concurrency: int  # long jobs (inversion, custom directions, text edits) run at once
    max_clip_models: int  # CLIP models kept loaded
    max_sessions: int  # browser sessions whose state Gradio keeps (oldest dropped first)


def read_limits() -> HubLimits:
    return HubLimits(
        max_steps=_env_int("STYLELAB_HUB_MAX_STEPS", 500),
        max_adapt_steps=_env_int("STYLELAB_HUB_MAX_ADAPT_STEPS", 300),
        max_seeds=_env_int("STYLELAB_HUB_MAX_SEEDS", 32),
        max_photos=_env_int("STYLELAB_HUB_MAX_PHOTOS", 12),
        max_upload_mb=_env_int("STYLELAB_HUB_MAX_UPLOAD_MB", 25),
        session_ttl_s=_env_int("STYLELAB_HUB_SESSION_TTL", 1800),
        max_heavy=_env_int("STYLELAB_HUB_MAX_PTI", 8),
        render_concurrency=_env_int("STYLELAB_HUB_RENDER_THREADS", 32),
        render_slots=_env_int("STYLELAB_HUB_RENDER_SLOTS", 1),
        job_concurrency=_env_int("STYLELAB_HUB_JOB_THREADS", 1),
        max_clip_models=_env_int("STYLELAB_HUB_MAX_CLIP", 2),
        max_sessions=_env_int("STYLELAB_HUB_MAX_SESSIONS", 200),
    )


LIMITS = read_limits()

#: event options for cheap renders (Generate, sliders, alignment) and for long jobs
RENDER = {"concurrency_id": "render", "concurrency_limit": LIMITS.render_concurrency}
JOBS = {"concurrency_id": "jobs", "concurrency_limit": LIMITS.job_concurrency}
