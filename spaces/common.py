"""Helpers shared by the hub's tabs: friendly errors and the model picker."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import gradio as gr

from stylelab import CacheError, get_spec, list_models
from stylelab.pipelines import GenerationPipeline, get_pipeline

log = logging.getLogger("stylelab.hub")
F = TypeVar("F", bound=Callable[..., Any])


def error_message(exc: BaseException) -> str:
    """The user-facing text of ``exc`` (KeyError's str() adds quotes, so use its argument)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def friendly_errors(fn: F) -> F:
    """Turn ValueError, KeyError and CacheError into ``gr.Error(message)``; log anything else
    and raise a generic ``gr.Error``, so the UI never shows a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, KeyError, CacheError) as exc:
            raise gr.Error(error_message(exc), print_exception=False) from exc
        except Exception as exc:
            log.exception("%s failed", fn.__name__)
            raise gr.Error(f"internal error ({type(exc).__name__}); see the server log") from exc

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class ModelFacts:
    """What the UI needs to know about a generator: output sizes, W+ entries, default psi."""

    sizes: tuple[int, ...]
    num_ws: int
    truncation: float
    description: str

    @property
    def default_size(self) -> int:
        """256 when offered, else the offered size closest to it."""
        return min(self.sizes, key=lambda s: abs(s - 256))


def load_model(name: str) -> tuple[GenerationPipeline, ModelFacts]:
    """The shared pipeline for ``name`` with its weights loaded (once per process)."""
    pipe = get_pipeline(name)
    G = pipe.G
    spec = pipe.spec
    text = f"**{spec.name}**: {spec.description}"
    if spec.license:
        text += f" (licence: {spec.license})"
    return pipe, ModelFacts(tuple(G.sizes), G.num_ws, spec.truncation_psi, text)


def model_dropdown(default_model: str) -> gr.Dropdown:
    """The model picker: every registered generator. Custom values reach the registry,
    which answers unknown names with the list of valid ones."""
    get_spec(default_model)
    return gr.Dropdown(list_models(), value=default_model, label="Model", elem_id="model",
                       allow_custom_value=True, interactive=True)


class CheckedSlider(gr.Slider):
    """A ``gr.Slider`` whose value reaches the pipeline unchecked, so an out-of-range
    value sent through the API gets the pipeline's message rather than Gradio's."""

    is_template = True  # render with Gradio's own slider

    def preprocess(self, payload: float | None) -> float | None:
        return payload


def parse_size(size: float | str | None) -> int | None:
    """The size dropdown's value as an int (custom values arrive as strings)."""
    if size in (None, ""):
        return None
    try:
        return int(float(size))
    except (TypeError, ValueError):
        raise ValueError(f"output size {size!r} is not a number of pixels") from None
