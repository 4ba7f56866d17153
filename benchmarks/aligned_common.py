"""Helpers shared by the aligned-model benchmarks (imported by benchmarks/aligned*.py only)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from adaptation import landmarks, pixel_distance  # noqa: F401  (benchmarks/adaptation.py)

from stylelab.adaptation import apply_filter
from stylelab.faces.attributes import landmark_attributes

SIZE = 256
BANDS = {"coarse": (0, 7), "middle": (7, 13), "fine": (13, 99)}  # W+ entries (4-16, 32-64, 128+ px)


def render(G, latent, size: int = SIZE, batch: int = 8) -> torch.Tensor:
    """W / W+ ``(N, ...)`` or S (dict) -> ``(N, 3, size, size)`` clamped to [-1, 1]."""
    with torch.no_grad():
        if isinstance(latent, dict):
            n = len(next(iter(latent.values())))
            return torch.cat([G.synthesis(styles={k: v[i:i + batch] for k, v in latent.items()},
                                          size=size).clamp(-1, 1) for i in range(0, n, batch)])
        return torch.cat([G.synthesis(latent[i:i + batch], size=size).clamp(-1, 1)
                          for i in range(0, len(latent), batch)])


def domain_filter(child_name: str) -> str | None:
    """The known-answer filter of a benchmark child named ``<filter>-<method>``."""
    from stylelab.adaptation import list_filters

    head = child_name.split(":")[-1].split("-")[0]
    return head if head in list_filters() else None


def known_answer(child_name: str, parent_images: torch.Tensor) -> torch.Tensor | None:
    name = domain_filter(child_name)
    return None if name is None else apply_filter(name, parent_images)


def small(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=64, mode="area")


def iod(lmk: np.ndarray) -> float:
    return float(np.linalg.norm(lmk[36:42].mean(0) - lmk[42:48].mean(0)))


def landmark_distance(a: list, b: list) -> tuple[float, int]:
    """Mean landmark distance over the inter-ocular distance of ``a``, and the pair count."""
    d = [float(np.linalg.norm(x - y, axis=1).mean() / iod(x)) for x, y in zip(a, b)
         if x is not None and y is not None]
    return (float(np.mean(d)) if d else float("nan")), len(d)


def attributes(lmks: list) -> dict[str, np.ndarray]:
    keys = ("smile", "mouth_open", "eye_openness", "yaw")
    out = {k: np.full(len(lmks), np.nan) for k in keys}
    for i, lmk in enumerate(lmks):
        if lmk is not None:
            values = landmark_attributes(lmk)
            for k in keys:
                out[k][i] = values[k]
    return out


def cosine_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)


def fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def table(rows: list[dict], columns: list[str], title: str) -> None:
    print(f"\n## {title}")
    print(" | ".join(columns))
    for r in rows:
        print(" | ".join(fmt(r.get(c)) for c in columns))
