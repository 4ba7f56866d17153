"""Text-image (CLIP) models for StyleCLIP: one contract, two lazily imported backends.

``load_clip(name)`` returns a frozen :class:`TextImageModel`; see :mod:`.registry` for the
name grammar. Importing this package imports neither ``open_clip`` nor ``transformers``.
"""

from .base import (
    ClipError,
    ClipUnavailableError,
    PromptCheck,
    TextImageModel,
    clip_preprocess,
)
from .registry import (
    DEFAULT_CLIP,
    FACES_MINILM,
    available_clip_models,
    clip_status,
    load_clip,
    preferred_clip,
    register_clip,
    unregister_clip,
)

__all__ = [
    "DEFAULT_CLIP",
    "FACES_MINILM",
    "ClipError",
    "ClipUnavailableError",
    "PromptCheck",
    "TextImageModel",
    "available_clip_models",
    "clip_preprocess",
    "clip_status",
    "load_clip",
    "preferred_clip",
    "register_clip",
    "unregister_clip",
]
