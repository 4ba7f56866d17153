"""Zero-shot classification and retrieval, on a constructed model with known answers."""

import numpy as np
import pytest
import torch

from stylelab.clip.base import TextImageModel
from stylelab.clip.zeroshot import (
    accuracy,
    class_embeddings,
    classify,
    image_embeddings,
    retrieval_recall,
    text_embeddings,
)

WORDS = ("red", "green", "blue")


class ColourClip(TextImageModel):
    """Images -> their mean RGB; a prompt -> the one-hot of the colour word it names."""

    name, embed_dim, image_size, context_length = "colour", 3, 8, 16

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("anchor", torch.zeros(1))

    def _encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return pixels.mean((2, 3)) + 1.0

    def _encode_text(self, prompts: list[str]) -> torch.Tensor:
        return torch.stack([torch.tensor([float(w in p) for w in WORDS]) for p in prompts])

    def count_tokens(self, prompt: str) -> int:
        return len(prompt.split()) + 2


def solid(colours: list[int]) -> torch.Tensor:
    images = -torch.ones(len(colours), 3, 8, 8)
    for i, c in enumerate(colours):
        images[i, c] = 1.0
    return images


def test_classification_recovers_the_colours():
    model = ColourClip().freeze()
    truth = np.array([0, 1, 2, 2, 1, 0, 2])
    img = image_embeddings(model, solid(list(truth)), batch=3)
    assert img.shape == (7, 3) and torch.allclose(img.norm(dim=1), torch.ones(7))
    classes = class_embeddings(model, [[f"a {w} square", f"something {w}"] for w in WORDS])
    pred = classify(img, classes)
    assert pred.tolist() == truth.tolist()
    assert accuracy(pred, truth) == {"acc": 1.0, "balanced": 1.0, "n": 7, "chance": 1 / 3}


def test_accuracy_is_balanced_and_skips_unlabelled():
    truth = np.array([0, 0, 0, 1, -1])
    pred = np.array([0, 0, 0, 0, 1])
    out = accuracy(pred, truth)
    assert out["acc"] == 0.75 and out["balanced"] == 0.5 and out["n"] == 4
    assert np.isnan(accuracy(pred, np.full(5, -1))["acc"])
    with pytest.raises(ValueError, match="at least one prompt"):
        class_embeddings(ColourClip(), [["red"], []])


def test_retrieval_recall_counts_ties_against():
    model = ColourClip().freeze()
    img = image_embeddings(model, solid([0, 1, 2]))
    captions = text_embeddings(model, ["red", "green", "blue"])
    assert retrieval_recall(img, captions) == {"R@1": 1.0, "R@5": 1.0}
    shuffled = text_embeddings(model, ["green", "red", "blue"])
    assert retrieval_recall(img, shuffled, ks=(1, 2))["R@1"] == pytest.approx(1 / 3)
    same = image_embeddings(model, solid([0, 0]))
    assert retrieval_recall(same, text_embeddings(model, ["red", "red"]), ks=(1, 2)) == \
        {"R@1": 1.0, "R@2": 1.0}  # equal scores: nothing strictly closer
    with pytest.raises(ValueError, match="one caption per image"):
        retrieval_recall(img, captions[:2])
