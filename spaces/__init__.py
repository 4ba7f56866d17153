"""Gradio tabs of the stylelab hub (``app.py``). Only this package and ``app.py`` import gradio.

Gradio runs ``import spaces`` at import time to find Hugging Face's ZeroGPU helper
package of that name, and on a Space calls ``spaces.gradio_auto_wrap(fn)`` on every
event handler. Next to ``app.py`` this folder shadows that package, so it provides
the hook as a no-op (the hub runs on CPU).
"""

from collections.abc import Callable
from typing import Any


def gradio_auto_wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    """No-op stand-in for HF ``spaces.gradio_auto_wrap`` (see the module docstring)."""
    return fn
