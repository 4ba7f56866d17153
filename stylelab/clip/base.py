"""The text-image model contract every StyleCLIP method uses, with torch preprocessing.

A :class:`TextImageModel` embeds images and prompts into one space:

- ``encode_image(images)``: ``images: (N, 3, H, W)`` in [-1, 1] (generator output, any
  size) -> ``(N, embed_dim)`` unit vectors. Resize, centre crop and normalisation are torch
  ops (:func:`clip_preprocess`), so gradients flow back to the latent.
- ``encode_text(prompts)``: ``list[str]`` -> ``(len(prompts), embed_dim)`` unit vectors.
  Prompts longer than ``context_length`` tokens are truncated; :meth:`check_prompt`
  says so beforehand.

Backends (imported lazily): :mod:`.openclip` (open_clip) and :mod:`.hf` (transformers
``CLIPModel``); tests and the hub can register constructed models (:mod:`.registry`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


class ClipError(ValueError):
    """A CLIP request that cannot be served (bad prompt, unknown or unavailable model)."""


class ClipUnavailableError(ClipError):
    """No weights for the requested model are installed or cached; the message says how to
    get them."""


@dataclass(frozen=True)
class PromptCheck:
    """``tokens``: the prompt's token count (with start/end tokens); ``truncated``: it exceeds
    the context length and will be cut; ``message``: what to tell the user (empty if fine)."""

    prompt: str
    tokens: int
    truncated: bool
    message: str = ""


def clip_preprocess(images: torch.Tensor, size: int, mean: Sequence[float] = OPENAI_MEAN,
                    std: Sequence[float] = OPENAI_STD) -> torch.Tensor:
    """``images: (N, 3, H, W)`` in [-1, 1] -> ``(N, 3, size, size)`` CLIP input, differentiably.

    Shorter side resized to ``size`` (bicubic; area-averaged first when shrinking by more
    than 2x, as PIL's antialiased resize does), centre crop, then the model's normalisation.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
    x = (images.float() + 1) / 2
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    if scale < 0.5:  # antialias: average-pool down to <= 2x the target, then bicubic
        k = int(1 / scale) // 2
        if k > 1:
            x = F.avg_pool2d(x, k)
            h, w = x.shape[-2:]
            scale = size / min(h, w)
    if (h, w) != (size, size) or scale != 1:
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False)
        top, left = (nh - size) // 2, (nw - size) // 2
        x = x[..., top:top + size, left:left + size]
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


class TextImageModel(nn.Module, ABC):
    """A CLIP-like model. Subclasses set ``name``, ``embed_dim``, ``image_size``,
    ``context_length``, ``mean``/``std`` and implement the two ``_encode`` methods
    and :meth:`count_tokens`. Parameters are frozen: losses only flow to the input.
    ``weights_digest``: sha256 of the weights when known (caches made with other weights of
    the same name are refused), else None."""

    name: str = "custom"
    weights_digest: str | None = None
    embed_dim: int
    image_size: int = 224
    context_length: int = 77
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD

    def freeze(self) -> TextImageModel:
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    @property
    def cache_key(self) -> str:
        """Name used for on-disk caches (relevance): safe as a file name."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.name)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``images: (N, 3, H, W)`` in [-1, 1] -> ``(N, embed_dim)`` unit vectors
        (differentiable)."""
        return F.normalize(self._encode_image(self.preprocess(images.to(self.device))).float(),
                           dim=-1)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """Generator output -> the image tower's input (default: :func:`clip_preprocess`)."""
        return clip_preprocess(images, self.image_size, self.mean, self.std)

    @torch.no_grad()
    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """``prompts`` -> ``(len(prompts), embed_dim)`` unit vectors; over-long prompts are
        truncated."""
        if isinstance(prompts, str):
            prompts = [prompts]
        for p in prompts:
            if not p.strip():
                raise ClipError("the prompt is empty: describe the edit, e.g. 'a smiling face'")
        return F.normalize(self._encode_text(list(prompts)).float(), dim=-1)

    def check_prompt(self, prompt: str) -> PromptCheck:
        """Token count of ``prompt``; raises :class:`ClipError` if it is empty."""
        if not prompt or not prompt.strip():
            raise ClipError("the prompt is empty: describe the edit, e.g. 'a smiling face'")
        n = self.count_tokens(prompt)
        if n > self.context_length:
            return PromptCheck(prompt, n, True,
                               f"the prompt has {n} tokens, more than this CLIP model's "
                               f"{self.context_length}; it was truncated to the first "
                               f"{self.context_length}")
        return PromptCheck(prompt, n, False)

    @abstractmethod
    def _encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """Preprocessed ``(N, 3, image_size, image_size)`` -> ``(N, embed_dim)`` (any norm)."""

    @abstractmethod
    def _encode_text(self, prompts: list[str]) -> torch.Tensor:
        """``prompts`` -> ``(N, embed_dim)`` (any norm), truncating to ``context_length``."""

    @abstractmethod
    def count_tokens(self, prompt: str) -> int:
        """Tokens in ``prompt`` including start and end tokens, before truncation."""
