"""Conversions between generator tensors and images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` in [-1, 1] -> ``(N, H, W, 3)`` uint8 (clamped, rounded)."""
    arr = ((img.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return arr.permute(0, 2, 3, 1).cpu().numpy()


def to_pil(img: torch.Tensor) -> list[Image.Image]:
    """``(N, 3, H, W)`` in [-1, 1] -> N RGB PIL images."""
    return [Image.fromarray(a) for a in to_uint8(img)]


def from_pil(image: Image.Image, size: int | None = None) -> torch.Tensor:
    """RGB PIL image -> ``(1, 3, H, W)`` in [-1, 1], resized to ``size`` if given."""
    image = image.convert("RGB")
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.LANCZOS)
    arr = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float()
    return (arr / 127.5 - 1).unsqueeze(0)


def strip(images: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` -> one ``(H, N*W, 3)`` uint8 strip, left to right."""
    return np.concatenate(list(to_uint8(images)), axis=1)


def save_png(img: torch.Tensor, paths: list[str | Path]) -> list[Path]:
    """Save each image of the batch as a lossless PNG (atomically, at
    :data:`stylelab.fileio.PNG_LEVEL`, folders created); returns the paths."""
    from .fileio import save_png as save_one

    out = []
    for pil, path in zip(to_pil(img), paths):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        out.append(save_one(pil, path))
    return out
