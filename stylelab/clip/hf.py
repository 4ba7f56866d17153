"""transformers backend: :class:`TransformersClipModel` and :func:`load_transformers_clip`.

Wraps ``transformers.CLIPModel`` + its tokenizer (``CLIPTokenizer``/``CLIPTokenizerFast``
through ``AutoTokenizer``), from a local folder or a hub id. ``transformers`` is imported
inside functions only. Image normalisation comes from ``preprocessor_config.json`` when the
folder/repo has one (read as JSON: no image processor, hence no torchvision, is needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ._util import (
    TORCHVISION_HINT,
    is_missing_weights,
    mentions_torchvision,
    offline_mode,
    root_cause,
    short_error,
)
from .base import (
    OPENAI_MEAN,
    OPENAI_STD,
    ClipError,
    ClipUnavailableError,
    TextImageModel,
)

PIP_HINT = "pip install transformers"


def import_transformers_clip() -> tuple[Any, Any]:
    """``(CLIPModel, AutoTokenizer)`` or :class:`ClipUnavailableError` saying what to fix."""
    try:
        from transformers import AutoTokenizer, CLIPModel
    except Exception as e:  # noqa: BLE001 - ImportError, or a broken torchvision behind it
        if mentions_torchvision(e):
            raise ClipUnavailableError(f"the transformers backend cannot be used: "
                                       f"{TORCHVISION_HINT}, or uninstall torchvision (CLIP "
                                       f"does not need it) ({short_error(root_cause(e))})"
                                       ) from e
        raise ClipUnavailableError(f"the transformers backend is not installed or broken "
                                   f"({short_error(e)}): {PIP_HINT}") from e
    return CLIPModel, AutoTokenizer


class TransformersClipModel(TextImageModel):
    """A transformers ``CLIPModel`` + tokenizer behind the :class:`TextImageModel` contract.

    ``image_size``/``embed_dim``/``context_length`` come from the model config
    (``vision_config.image_size``, ``projection_dim``, ``text_config.max_position_embeddings``).
    """

    def __init__(self, model: nn.Module, tokenizer: Any, name: str,
                 mean: tuple[float, ...] = OPENAI_MEAN, std: tuple[float, ...] = OPENAI_STD
                 ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        cfg = model.config
        self.image_size = int(cfg.vision_config.image_size)
        self.embed_dim = int(cfg.projection_dim)
        self.context_length = int(cfg.text_config.max_position_embeddings)
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.freeze()

    def _encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(N, 3, S, S)`` normalised pixels -> ``(N, embed_dim)`` projected embeddings."""
        return _features(self.model.get_image_features(pixel_values=pixels))

    def _encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Tokenised (truncated to ``context_length``) -> ``(N, embed_dim)`` projections."""
        enc = self.tokenizer(prompts, padding=True, truncation=True,
                             max_length=self.context_length, return_tensors="pt")
        return _features(self.model.get_text_features(
            input_ids=enc["input_ids"].to(self.device),
            attention_mask=_to(enc.get("attention_mask"), self.device)))

    def count_tokens(self, prompt: str) -> int:
        """Tokens incl. ``<|startoftext|>``/``<|endoftext|>`` before truncation."""
        return len(self.tokenizer(prompt, truncation=False, verbose=False)["input_ids"])


def _to(x: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if x is None else x.to(device)


def _features(out: Any) -> torch.Tensor:
    """``get_*_features`` output -> ``(N, projection_dim)``.

    transformers 4 returns the projected tensor; transformers 5 returns a
    ``BaseModelOutputWithPooling`` whose ``pooler_output`` holds the projected embeddings
    (or a tuple ``(last_hidden_state, pooler_output, ...)`` when ``return_dict`` is off).
    """
    if isinstance(out, torch.Tensor):
        return out
    pooled = getattr(out, "pooler_output", None)
    if isinstance(pooled, torch.Tensor):
        return pooled
    if isinstance(out, tuple) and len(out) > 1 and isinstance(out[1], torch.Tensor):
        return out[1]
    raise ClipError(f"unexpected CLIP features output from transformers: {type(out).__name__}")


def _normalisation(source: str, local_only: bool) -> tuple[tuple, tuple]:
    """``(mean, std)`` from ``preprocessor_config.json`` when present, else OpenAI's."""
    path: Path | None = Path(source) / "preprocessor_config.json"
    if not path.is_file():
        path = None
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(source, "preprocessor_config.json",
                                        local_files_only=local_only))
        except Exception:  # noqa: BLE001 - no such file / offline: OpenAI's values
            pass
    try:
        cfg = json.loads(path.read_text()) if path else {}
    except (OSError, ValueError):
        cfg = {}
    mean, std = cfg.get("image_mean"), cfg.get("image_std")
    if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == 3):
        return OPENAI_MEAN, OPENAI_STD
    return tuple(mean), tuple(std)


def load_transformers_clip(source: str, device: str | torch.device = "cpu"
                           ) -> TransformersClipModel:
    """Load a ``CLIPModel`` folder or hub id (``"openai/clip-vit-base-patch32"``) on ``device``.

    With ``HF_HUB_OFFLINE`` set only the local cache is used. Raises
    :class:`ClipUnavailableError` when weights/tokenizer files or the package are missing,
    :class:`ClipError` when the files are not a CLIP model.
    """
    clip_model_cls, auto_tokenizer = import_transformers_clip()
    local_only = offline_mode()
    try:
        model = clip_model_cls.from_pretrained(source, local_files_only=local_only)
        tokenizer = auto_tokenizer.from_pretrained(source, local_files_only=local_only)
    except Exception as e:  # noqa: BLE001 - OSError, hub errors, config mismatches
        if is_missing_weights(e):
            raise ClipUnavailableError(f"transformers CLIP files for {source} could not be "
                                       f"loaded ({short_error(e)})") from e
        raise ClipError(f"{source} is not a transformers CLIPModel: {short_error(e)}") from e
    mean, std = _normalisation(source, local_only)
    return TransformersClipModel(model.to(device), tokenizer, f"transformers:{source}", mean, std)
