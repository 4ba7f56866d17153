"""open_clip backend: :class:`OpenClipModel` and :func:`load_open_clip`.

``open_clip`` is imported inside functions only (importing it takes seconds). Weights come
from a pretrained tag (``"ViT-B-32", "openai"``), a Hugging Face repo (``"hf-hub:org/repo"``,
the arch argument; ``pretrained`` ignored) or a local ``.safetensors`` / ``.pt`` / ``.bin``
file (read with ``weights_only=True``, so TorchScript archives are refused).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from ._util import (
    TORCHVISION_HINT,
    is_missing_weights,
    mentions_torchvision,
    root_cause,
    short_error,
)
from .base import ClipError, ClipUnavailableError, TextImageModel

HF_HUB = "hf-hub:"
PIP_HINT = "pip install open_clip_torch (and a torchvision built for your torch)"


def import_open_clip() -> Any:
    """``import open_clip`` or :class:`ClipUnavailableError` saying what to install."""
    try:
        import open_clip
    except Exception as e:  # noqa: BLE001 - ImportError, or a torchvision not matching torch
        if mentions_torchvision(e):
            raise ClipUnavailableError(f"the open_clip backend cannot be used: "
                                       f"{TORCHVISION_HINT} ({short_error(root_cause(e))})"
                                       ) from e
        raise ClipUnavailableError(f"the open_clip backend is not installed or broken "
                                   f"({short_error(e)}): {PIP_HINT}") from e
    return open_clip


class OpenClipModel(TextImageModel):
    """An open_clip model + tokenizer behind the :class:`TextImageModel` contract.

    ``mean``/``std``/``image_size`` come from ``model.visual.preprocess_cfg`` (open_clip
    stores what the weights were trained with); ``context_length`` from the model.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, name: str) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        cfg = _preprocess_cfg(model)
        self.image_size = _square_size(cfg.get("size", 224), name)
        self.mean = tuple(float(v) for v in cfg.get("mean", self.mean))
        self.std = tuple(float(v) for v in cfg.get("std", self.std))
        self.context_length = int(getattr(model, "context_length", None)
                                  or getattr(tokenizer, "context_length", None) or 77)
        self.embed_dim = _embed_dim(model, tokenizer)
        self.freeze()

    def _encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(N, 3, S, S)`` normalised pixels -> ``(N, embed_dim)``."""
        return self.model.encode_image(pixels)

    def _encode_text(self, prompts: list[str]) -> torch.Tensor:
        """Tokenised (truncated to ``context_length``) -> ``(N, embed_dim)``."""
        tokens = self.tokenizer(prompts, context_length=self.context_length)
        return self.model.encode_text(tokens.to(self.device))

    def count_tokens(self, prompt: str) -> int:
        """Tokens incl. start/end before truncation (SimpleTokenizer or an HF-backed one)."""
        hf_tok = getattr(self.tokenizer, "tokenizer", None)
        if hf_tok is not None:  # HFTokenizer / SigLipTokenizer wrap a transformers tokenizer
            clean = getattr(self.tokenizer, "clean_fn", None)
            text = clean(prompt) if callable(clean) else prompt
            return len(hf_tok(text, truncation=False, verbose=False)["input_ids"])
        return len(self.tokenizer.encode(prompt)) + 2  # SimpleTokenizer: + <start>, <end>


def _preprocess_cfg(model: nn.Module) -> dict:
    visual = getattr(model, "visual", model)
    cfg = dict(getattr(visual, "preprocess_cfg", None) or {})
    if "mean" not in cfg and getattr(visual, "image_mean", None) is not None:
        cfg["mean"] = visual.image_mean
    if "std" not in cfg and getattr(visual, "image_std", None) is not None:
        cfg["std"] = visual.image_std
    if "size" not in cfg and getattr(visual, "image_size", None) is not None:
        cfg["size"] = visual.image_size
    return cfg


def _square_size(size: Any, name: str) -> int:
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            raise ClipError(f"{name}: non-square CLIP input {tuple(size)} is not supported")
        size = size[0]
    return int(size)


def _embed_dim(model: nn.Module, tokenizer: Any) -> int:
    out_dim = getattr(getattr(model, "visual", None), "output_dim", None)
    if out_dim:
        return int(out_dim)
    with torch.no_grad():  # custom towers: ask the model
        tokens = tokenizer(["a"]).to(next(model.parameters()).device)
        return int(model.encode_text(tokens).shape[-1])


def load_open_clip(arch: str, pretrained: str | None, device: str | torch.device = "cpu"
                   ) -> OpenClipModel:
    """Build an :class:`OpenClipModel` on ``device`` with frozen parameters.

    ``arch``: an open_clip architecture (``"ViT-B-32"``) or ``"hf-hub:org/repo"``;
    ``pretrained``: a tag (``"openai"``), a local weight file, or ``None`` (random weights,
    for tests). Raises :class:`ClipUnavailableError` when weights or the package are
    missing, :class:`ClipError` for anything else.
    """
    open_clip = import_open_clip()
    kwargs = _create_kwargs(open_clip, arch, pretrained)
    label = arch if arch.startswith(HF_HUB) else f"{arch}/{pretrained}"
    try:
        model = open_clip.create_model(arch, device=device, weights_only=True, **kwargs)
        tokenizer = open_clip.get_tokenizer(arch)
    except ClipError:
        raise
    except Exception as e:  # noqa: BLE001 - open_clip, hub, torch.load errors
        if is_missing_weights(e):
            raise ClipUnavailableError(f"open_clip weights for {label} could not be loaded "
                                       f"({short_error(e)})") from e
        raise ClipError(f"open_clip could not build {label}: {short_error(e)}") from e
    return OpenClipModel(model, tokenizer, f"open_clip:{label}")


def _create_kwargs(open_clip: Any, arch: str, pretrained: str | None) -> dict:
    """``pretrained`` / ``force_quick_gelu`` for ``create_model``; checks hub weights exist."""
    if arch.startswith(HF_HUB):
        _require_hub_weights(open_clip, arch[len(HF_HUB):])
        return {}
    if not pretrained:
        return {"pretrained": None}
    if os.path.isfile(os.path.expanduser(pretrained)):
        return {"pretrained": os.path.expanduser(pretrained)}
    try:
        tag_cfg = open_clip.get_pretrained_cfg(arch, pretrained)
    except Exception:  # noqa: BLE001 - unknown arch: create_model says so below
        tag_cfg = {}
    if not tag_cfg:
        if os.sep in pretrained or "/" in pretrained or pretrained.endswith(
                (".pt", ".pth", ".bin", ".safetensors")):
            raise ClipUnavailableError(f"open_clip weight file not found: {pretrained}")
        tags = _tags(open_clip, arch)
        raise ClipError(f"'{pretrained}' is neither a pretrained tag of open_clip {arch} nor "
                        f"a weight file; tags: {', '.join(tags) or 'none (unknown arch?)'}")
    # OpenAI weights were trained with QuickGELU; the plain arch config uses GELU.
    return {"pretrained": pretrained, "force_quick_gelu": bool(tag_cfg.get("quick_gelu"))}


def _tags(open_clip: Any, arch: str) -> list[str]:
    try:
        return list(open_clip.list_pretrained_tags_by_model(arch))
    except Exception:  # noqa: BLE001
        return []


def _require_hub_weights(open_clip: Any, repo_id: str) -> None:
    """open_clip silently builds a RANDOM model when a hub repo's weights are missing: refuse."""
    from open_clip.pretrained import download_pretrained_from_hf

    try:
        download_pretrained_from_hf(repo_id)
    except Exception as e:  # noqa: BLE001 - offline, not cached, no such repo
        raise ClipUnavailableError(f"open_clip weights for hf-hub:{repo_id} are not in the "
                                   f"Hugging Face cache and cannot be downloaded "
                                   f"({short_error(e)})") from e
