"""Helpers shared by the hub's tabs: the per-process component cache (the only one),
friendly errors and the model picker."""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
from PIL import Image

from stylelab import CacheError, StyleGenerator, get_spec, list_models, load_generator
from stylelab.clip import (
    ClipError,
    TextImageModel,
    available_clip_models,
    clip_status,
    load_clip,
)
from stylelab.lru import LRUCache
from stylelab.pipelines import (
    EditPipeline,
    GenerationPipeline,
    InversionPipeline,
    TextEditPipeline,
)
from stylelab.registry import list_adapted_names, model_status

from .limits import LIMITS

log = logging.getLogger("stylelab.hub")
F = TypeVar("F", bound=Callable[..., Any])


def error_message(exc: BaseException) -> str:
    """The user-facing text of ``exc`` (KeyError's str() adds quotes, so use its argument)."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def friendly_errors(fn: F) -> F:
    """Turn ValueError, KeyError, CacheError and ClipError into ``gr.Error(message)``; log
    anything else and raise a generic ``gr.Error``, so the UI never shows a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, KeyError, CacheError, ClipError) as exc:
            raise gr.Error(error_message(exc), print_exception=False) from exc
        except Exception as exc:
            log.exception("%s failed", fn.__name__)
            raise gr.Error(f"internal error ({type(exc).__name__}); see the server log") from exc

    return wrapper  # type: ignore[return-value]


class Components:
    """Loads each model once per process and builds the pipelines from them (thread-safe).

    Generators: the registry's visible models plus the hub's start model (which may be a
    test model chosen by the operator); anything else is refused without touching the disk.
    CLIP models: only names :func:`available_clip_models` lists (never paths typed into the
    UI), at most ``LIMITS.max_clip_models`` kept loaded (least recently used dropped).
    """

    def __init__(self) -> None:
        self.start_model: str | None = None
        self._lock = threading.RLock()
        # every visible model stays loaded once used (the picker offers a handful)
        self._generators: LRUCache[str, StyleGenerator] = LRUCache(64)
        self._edit: dict[str, EditPipeline] = {}
        self._inversion: dict[str, InversionPipeline] = {}
        self._flow: dict[str, Any] = {}
        self._text: LRUCache[tuple[str, str], TextEditPipeline] = LRUCache(
            too_many=lambda keys: len({c for _, c in keys}) > LIMITS.max_clip_models)
        self._identity = None

    def allowed_models(self) -> list[str]:
        """The registry's models, the start model, and adapted models saved in the cache."""
        names = list_models()
        if self.start_model and self.start_model not in names:
            names.insert(0, self.start_model)
        return names + list_adapted_names()

    def generator(self, name: str) -> StyleGenerator:
        if name not in self.allowed_models():
            raise ValueError(f"unknown model {name!r}; choose one of: "
                             f"{', '.join(self.allowed_models())}")
        # one load per model; other models load concurrently
        return self._generators.get_or_create(name, lambda: load_generator(name))

    def generation(self, name: str) -> GenerationPipeline:
        return GenerationPipeline(self.generator(name))

    def identity(self):
        """The dlib identity model, shared by every pipeline."""
        with self._lock:
            if self._identity is None:
                from stylelab.faces import IdentityModel

                self._identity = IdentityModel()
            return self._identity

    def edit(self, name: str) -> EditPipeline:
        """The model's edit pipeline (its direction sets load once)."""
        return self._shared(self._edit, name, EditPipeline)

    def inversion(self, name: str) -> InversionPipeline:
        return self._shared(self._inversion, name, InversionPipeline)

    def _shared(self, store: dict, name: str, cls: type) -> Any:
        """One ``cls(G, identity=...)`` per model, kept in ``store``."""
        G = self.generator(name)
        with self._lock:
            if name not in store:
                store[name] = cls(G, identity=_Lazy(self.identity))
            return store[name]

    def flow(self, name: str):
        """The model's :class:`~stylelab.pipelines.flow.FlowPipeline` (its trained StyleFlow
        loads once); FlowUnavailable (a CacheError) says how to train one."""
        from stylelab.flows import load_flow
        from stylelab.pipelines.flow import FlowPipeline

        G = self.generator(name)
        with self._lock:
            if name not in self._flow:
                self._flow[name] = FlowPipeline(G, load_flow(name), identity=_Lazy(self.identity))
            return self._flow[name]

    def clip(self, name: str) -> TextImageModel:
        offered = available_clip_models()
        if not offered:
            raise ClipError(clip_status())
        if name not in offered:
            raise ClipError(f"CLIP model {name!r} is not offered here; choose one of: "
                            f"{', '.join(offered)}")
        return load_clip(name)

    def text(self, name: str, clip_name: str) -> TextEditPipeline:
        G = self.generator(name)
        return self._text.get_or_create((name, clip_name), lambda: TextEditPipeline(
            G, self.clip(clip_name), identity=_Lazy(self.identity)))


class _Lazy:
    """An identity model loaded on first use (dlib's net costs about a second)."""

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory

    def embed(self, images):
        return self._factory().embed(images)

    def identity_loss(self, images, reference):
        return self._factory().identity_loss(images, reference)


HUB = Components()


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
    """The generation pipeline for ``name`` (weights loaded once per process) and its facts."""
    pipe = HUB.generation(name)
    G = pipe.G
    parent = getattr(G, "parent_name", None)
    spec = get_spec(parent or name)
    text = f"**{spec.name}**: {spec.description}"
    if parent:
        text = f"**{name}**: adapted from {spec.name}"
    if spec.license:
        text += f" (licence: {spec.license})"
    return pipe, ModelFacts(tuple(G.sizes), G.num_ws, G.default_truncation, text)


def model_choices() -> tuple[list[str], list[str]]:
    """(models that load now, models that need a download first)."""
    ready, download = [], []
    for name in HUB.allowed_models():
        ready_now = name.startswith("adapted:") or model_status(name) == "ready"
        (ready if ready_now else download).append(name)
    return ready, download


def model_dropdown(default_model: str) -> gr.Dropdown:
    """The model picker: only models that load now; the others are listed beside it."""
    HUB.start_model = default_model
    get_spec(default_model)
    ready, download = model_choices()
    dropdown = gr.Dropdown(ready, value=default_model, label="Model", elem_id="model",
                           interactive=True)
    if download:
        gr.Markdown("Download needed first (with a network connection): "
                    + ", ".join(f"`{n}`" for n in download)
                    + ". Fetch one with `stylelab download NAME`, then restart the hub.",
                    elem_id="model-downloads")
    return dropdown


class _PngRing:
    """Fast PNG files for the hot paths (slider redraws, generated faces): zlib level 1
    (5 ms for a 256px face, against 19 ms at Pillow's default), written to a ring of
    ``slots`` files per process, so disk use stays bounded. Gradio copies each returned file
    into its own cache as soon as the function returns, long before its slot comes round."""

    def __init__(self, slots: int = 256):
        self.slots = slots
        self._dir: Path | None = None
        self._next = 0
        self._lock = threading.Lock()

    def write(self, image: Image.Image) -> str:
        with self._lock:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="stylelab-hub-png-"))
            path = self._dir / f"{self._next:04d}.png"
            self._next = (self._next + 1) % self.slots
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        image.save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
        return str(path)


_PNG = _PngRing()


def png_file(image: Image.Image) -> str:
    """``image`` as a fast-compressed PNG file for a Gradio image output."""
    return _PNG.write(image)


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
        value = float(size)
    except (TypeError, ValueError):
        raise ValueError(f"output size {size!r} is not a number of pixels") from None
    if not value.is_integer():
        raise ValueError(f"output size {size!r} is not a whole number of pixels")
    return int(value)


def _keep_on_error(fn: Callable[..., Any], n_outputs: int,
                   reset: dict[int, Any] | None = None) -> Callable[..., Any]:
    """``fn`` for the browser: on success its outputs plus an empty status (stale notes are
    cleared); on a user error a warning toast, the status line saying why, and every other
    output left as it was (no red badges, earlier results kept) except those in ``reset``
    (output index -> value), which would be stale."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> tuple:
        try:
            out = fn(*args, **kwargs)
        except gr.Error as exc:
            gr.Warning(exc.message)
            kept = [(reset or {}).get(i, gr.skip()) for i in range(n_outputs)]
            return (*kept, f"**Could not do that:** {exc.message}")
        out = out if isinstance(out, tuple) and n_outputs > 1 else (out,)
        return (*out, "")

    return wrapper


def connect(trigger: Callable[..., Any], fn: Callable[..., Any], inputs: list, outputs: list,
            status: gr.Markdown, api_name: str | None = None,
            reset: dict[int, Any] | None = None, **kwargs: Any) -> Any:
    """Wire ``fn`` (raising ``gr.Error`` for bad input) to a UI event such as
    ``button.click``: people get :func:`_keep_on_error`'s behaviour and ``status`` says
    what went wrong. With ``api_name``, API callers get ``fn`` itself (errors as errors)
    through an invisible button, so the browser and the API each get what suits them.
    Call it inside the tab it belongs to. Returns the UI event (for ``.then``)."""
    if api_name:  # first, so that the API keeps the plain name
        hidden = gr.Button(visible=False, elem_id=f"api-{api_name}")
        hidden.click(fn, inputs, outputs[0] if len(outputs) == 1 else outputs,
                     api_name=api_name,
                     **{k: v for k, v in kwargs.items() if k != "show_progress"})
    return trigger(_keep_on_error(fn, len(outputs), reset), inputs, [*outputs, status],
                   api_visibility="private", **kwargs)
