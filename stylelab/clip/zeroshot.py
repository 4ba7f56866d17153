"""Zero-shot classification and text-to-image retrieval with any :class:`TextImageModel`.

Used by ``benchmarks/facetext.py`` and the research notebooks; the training script keeps its
own fast path over cached trunk features. Classes are lists of prompts whose unit text
embeddings are averaged (CLIP's prompt ensembling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .base import TextImageModel


@torch.no_grad()
def image_embeddings(model: TextImageModel, images: torch.Tensor, batch: int = 32
                     ) -> torch.Tensor:
    """``(N, 3, H, W)`` in [-1, 1] -> ``(N, D)`` unit embeddings on the CPU."""
    out = [F.normalize(model.encode_image(images[b:b + batch].to(model.device)).float(), dim=-1)
           for b in range(0, len(images), batch)]
    return torch.cat(out).cpu()


@torch.no_grad()
def text_embeddings(model: TextImageModel, prompts: Sequence[str], batch: int = 128
                    ) -> torch.Tensor:
    """``len(prompts)`` sentences -> ``(P, D)`` unit embeddings on the CPU."""
    prompts = list(prompts)
    out = [F.normalize(model.encode_text(prompts[b:b + batch]).float(), dim=-1)
           for b in range(0, len(prompts), batch)]
    return torch.cat(out).cpu()


def class_embeddings(model: TextImageModel, classes: Sequence[Sequence[str]]) -> torch.Tensor:
    """One prompt list per class -> ``(C, D)``: the normalised mean of each list's embeddings."""
    if not classes or any(not c for c in classes):
        raise ValueError("every class needs at least one prompt")
    return F.normalize(torch.stack([text_embeddings(model, c).mean(0) for c in classes]), dim=-1)


def classify(image_emb: torch.Tensor, class_emb: torch.Tensor) -> np.ndarray:
    """``(N, D)`` and ``(C, D)`` unit embeddings -> the predicted class per image, ``(N,)``."""
    return (image_emb @ class_emb.T).argmax(1).numpy()


def accuracy(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Accuracy and class-balanced accuracy (mean recall over the classes present) over the
    images whose ``truth`` is a class index (``-1``: unlabelled, skipped); chance: one over
    the number of classes present."""
    have = truth >= 0
    if not have.any():
        return {"acc": float("nan"), "balanced": float("nan"), "n": 0, "chance": float("nan")}
    present = np.unique(truth[have])
    recall = [float((pred[truth == k] == k).mean()) for k in present]
    return {"acc": float((pred[have] == truth[have]).mean()), "balanced": float(np.mean(recall)),
            "n": int(have.sum()), "chance": 1.0 / len(present)}


def retrieval_recall(image_emb: torch.Tensor, caption_emb: torch.Tensor,
                     ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Text-to-image retrieval: caption ``i`` describes image ``i``; R@k is how often image
    ``i`` ranks in the top ``k`` of caption ``i``'s similarities (ties count in its favour)."""
    if image_emb.shape[0] != caption_emb.shape[0]:
        raise ValueError("one caption per image")
    sims = caption_emb @ image_emb.T
    own = sims.diagonal()[:, None]
    rank = (sims > own).sum(1)  # images strictly closer than the right one
    return {f"R@{k}": float((rank < k).float().mean()) for k in ks}
