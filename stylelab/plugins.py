"""Plugins: modules named in ``$STYLELAB_PLUGINS`` (comma-separated) are imported by the CLI
and the hub at start-up, e.g. to register extra CLIP models with
:func:`stylelab.clip.register_clip` or generators with the registry."""

from __future__ import annotations

import importlib
import os


def load_plugins(names: str | None = None) -> list[str]:
    """Import each module in ``names`` (default ``$STYLELAB_PLUGINS``); returns their names.
    A module that cannot be imported raises ValueError naming it."""
    spec = os.environ.get("STYLELAB_PLUGINS", "") if names is None else names
    loaded = []
    for name in filter(None, (n.strip() for n in spec.split(","))):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ValueError(f"STYLELAB_PLUGINS: cannot import {name!r} ({exc})") from exc
        loaded.append(name)
    return loaded
