"""Prompts: checks, templates, and the text direction Δt of global directions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..clip.base import ClipError, TextImageModel

# Prompt templates averaged by global directions (StyleCLIP averages ImageNet-style
# templates; these are our own, phrased for portraits).
TEMPLATES: tuple[str, ...] = (
    "{}", "a photo of {}.", "a close-up photo of {}.", "a portrait of {}.",
    "a cropped photo of {}.", "a good photo of {}.", "a bright photo of {}.",
    "a photo of the {}.", "a photo of a person, {}.", "a headshot of {}.",
    "a high quality photo of {}.", "a low resolution photo of {}.",
)


def check_prompts(clip: TextImageModel, target: str, neutral: str | None = None) -> list[str]:
    """Validate prompts; return notes to show the user (e.g. truncation).

    Raises :class:`ClipError` for an empty prompt or a target equal to the neutral one.
    """
    notes = []
    for label, prompt in (("target", target), ("neutral", neutral)):
        if prompt is None:
            continue
        if not prompt.strip():
            raise ClipError(f"the {label} prompt is empty: describe the {label} face, "
                            "e.g. 'a smiling face' / 'a face'")
        check = clip.check_prompt(prompt)
        if check.truncated:
            notes.append(f"{label} prompt: {check.message}")
    same = neutral is not None and target.lower().split() == neutral.lower().split()
    if same:
        raise ClipError("the target and neutral prompts are the same, so there is no edit "
                        "direction; describe what should change, e.g. target 'a smiling face', "
                        "neutral 'a face'")
    return notes


def encode_prompt(clip: TextImageModel, prompt: str,
                  templates: Sequence[str] = ("{}",)) -> torch.Tensor:
    """``(embed_dim,)`` unit embedding of ``prompt`` averaged over ``templates``."""
    texts = [t.format(prompt) for t in templates]
    return F.normalize(clip.encode_text(texts).mean(0), dim=-1)


def text_direction(clip: TextImageModel, target: str, neutral: str,
                   templates: Sequence[str] = TEMPLATES) -> torch.Tensor:
    """Δt: ``(embed_dim,)`` unit vector from the neutral to the target prompt, each averaged
    over ``templates`` (StyleCLIP's global-direction text side)."""
    check_prompts(clip, target, neutral)
    delta = encode_prompt(clip, target, templates) - encode_prompt(clip, neutral, templates)
    if delta.norm() < 1e-6:
        raise ClipError(f"this CLIP model embeds {target!r} and {neutral!r} identically, so "
                        "there is no direction; rephrase the target prompt")
    return F.normalize(delta, dim=-1)
