"""Photo in, latent out: load, align (FFHQ), invert (W, W+ or PTI), measure, paste back."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from ..faces import AlignedFace, IdentityModel, align_face, load_image, paste_back
from ..images import from_pil, to_pil
from ..inversion import InversionResult, OptimizeConfig, PTIConfig, invert, invert_pti
from ..models.base import StyleGenerator
from .generate import get_pipeline

METHODS = ("w", "w+", "pti")
MAX_STEPS = 5000


@dataclass
class InvertOutcome:
    """Everything the CLI and the hub show: the aligned crop, the inversion result
    (latent, optional PTI weight delta, reconstruction, metrics) and the paste-back."""

    photo: Image.Image
    aligned: AlignedFace
    result: InversionResult
    reconstruction: Image.Image
    pasted: Image.Image

    @property
    def metrics(self) -> dict[str, float]:
        return self.result.metrics


def check_method(method: str, steps: int) -> tuple[str, int]:
    method = str(method).lower()
    if method not in METHODS:
        raise ValueError(f"unknown inversion method {method!r}; choose one of {', '.join(METHODS)}")
    steps = int(steps)
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}")
    return method, steps


class InversionPipeline:
    """Inverts photos into generator ``model_name`` (weights shared with :func:`get_pipeline`)
    at ``size`` pixels, or at the model's largest size below it when it has no such size."""

    def __init__(self, model_name: str = "mobilestylegan-ffhq", size: int = 256):
        self.generation = get_pipeline(model_name)
        self.size = min(size, self.generation.spec.resolution)
        self._identity: IdentityModel | None = None

    @property
    def G(self) -> StyleGenerator:
        return self.generation.G

    @property
    def identity_model(self) -> IdentityModel:
        if self._identity is None:
            self._identity = IdentityModel()
        return self._identity

    def align(self, photo) -> tuple[Image.Image, AlignedFace]:
        """(upright RGB photo, FFHQ-aligned face at ``self.size``) from a path, bytes or PIL."""
        image = load_image(photo)
        return image, align_face(image, size=self.size)

    def identity_loss(self, target: torch.Tensor):
        """``images -> (N,)`` 1 - cosine of dlib identities to ``target`` (FFHQ-aligned)."""
        model = self.identity_model
        with torch.no_grad():
            reference = model.embed(target)
        return lambda images: model.identity_loss(images, reference)

    def invert(self, photo, method: str = "w+", steps: int = 300, seed: int = 0,
               progress: bool = True) -> InvertOutcome:
        """Invert the largest face of ``photo``; ``method`` in {"w", "w+", "pti"}."""
        method, steps = check_method(method, steps)
        image, aligned = self.align(photo)
        size = self.G.check_size(self.size)
        target = from_pil(aligned.image, size)
        identity = self.identity_loss(target)
        config = OptimizeConfig(space="w" if method in ("w", "pti") else "w+", steps=steps,
                                seed=seed, size=size)
        if method == "pti":
            result = invert_pti(self.G, target, PTIConfig(pivot=config, tune_steps=steps),
                                identity, progress=progress)
        else:
            result = invert(self.G, target, config, identity, progress=progress)
        crop = to_pil(result.reconstruction)[0]
        return InvertOutcome(image, aligned, result, crop, paste_back(image, crop, aligned))


def example_photos() -> list[Path]:
    """Studio portraits of synthetic people from PyPI ``openpeople`` (MIT), if installed."""
    spec = importlib.util.find_spec("openpeople")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(list(spec.submodule_search_locations)[0]) / "data" / "curated"
    return sorted(root.glob("P*/assets/studio_portrait.jpg"))
