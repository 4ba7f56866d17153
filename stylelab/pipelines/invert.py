"""Photo in, latent out: load, align (FFHQ), invert (W, W+, PTI by optimisation; an encoder,
CLCAE, or an encoder followed by W+ or PTI), measure, paste back."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from PIL import Image

from ..faces import (
    ALIGN_MAX_SIDE,
    AlignedFace,
    IdentityModel,
    align_face,
    load_image,
    paste_back,
)
from ..faces.paste import paste_size
from ..images import from_pil, to_pil
from ..inversion import (
    InversionLoss,
    InversionResult,
    OptimizeConfig,
    PTIConfig,
    invert,
    invert_pti,
)
from ..inversion.encode import encoder_pti, invert_encoder, refine
from ..inversion.losses import IdentityLoss
from ..inversion.result import apply_generator_delta
from ..models.base import StyleGenerator
from ..optim import StopCheck
from ..registry import DEFAULT_MODEL, load_generator
from .checks import check_steps

#: optimisation, then encoder methods; for these the encoder kind they use
METHODS = ("w", "w+", "pti", "encoder", "clcae", "encoder+w+", "encoder+pti")
ENCODER_OF = {"encoder": "e4e", "clcae": "clcae", "encoder+w+": "e4e", "encoder+pti": "e4e"}
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
    """(method, steps) checked: a method in :data:`METHODS`, steps in 1..``MAX_STEPS``."""
    method = str(method).lower()
    if method not in METHODS:
        raise ValueError(f"unknown inversion method {method!r}; choose one of {', '.join(METHODS)}")
    return method, check_steps(steps, MAX_STEPS)


class InversionPipeline:
    """Inverts photos into generator ``G`` at ``size`` pixels (at most ``G.resolution``).

    ``identity``: the face-identity loss model (default: dlib's, loaded on first use).
    ``encoders``: trained encoders by kind (``{"e4e": ..., "clcae": ...}``, attached to
    ``G``); a kind not given is loaded on first use with
    :func:`~stylelab.encoders.load_encoder` (``"<G.model_name>/<kind>"``).

    >>> pipe = InversionPipeline.from_name("mobilestylegan-ffhq")
    >>> outcome = pipe.invert("photo.jpg", "w+", steps=300)
    >>> instant = pipe.invert("photo.jpg", "encoder")      # one forward pass
    """

    def __init__(self, G: StyleGenerator, identity: IdentityLoss | None = None, size: int = 256,
                 encoders: Mapping[str, object] | None = None):
        self.G = G
        self.size = min(int(size), G.resolution)
        self._identity = identity
        self._encoders = dict(encoders or {})
        self._lock = threading.Lock()

    @classmethod
    def from_name(cls, model_name: str = DEFAULT_MODEL, size: int = 256,
                  device: str = "cpu") -> InversionPipeline:
        """The pipeline for registry model ``model_name`` (weights load now)."""
        return cls(load_generator(model_name, device), size=size)

    @property
    def identity_model(self) -> IdentityLoss:
        with self._lock:
            if self._identity is None:
                self._identity = IdentityModel()
            return self._identity

    def encoder(self, kind: str):
        """The :class:`~stylelab.encoders.Encoder` of ``kind`` for ``G`` (loaded once);
        :class:`~stylelab.encoders.EncoderUnavailable` says how to train a missing one."""
        with self._lock:
            if kind not in self._encoders:
                from ..encoders import load_encoder

                self._encoders[kind] = load_encoder(f"{self.G.model_name}/{kind}", self.G)
            return self._encoders[kind]

    def align(self, photo) -> tuple[Image.Image, AlignedFace]:
        """(upright RGB photo, FFHQ-aligned face at ``self.size``) from a path, bytes or PIL."""
        image = load_image(photo, max_side=ALIGN_MAX_SIDE)  # big photos decode downscaled
        return image, align_face(image, size=self.size)

    def invert(self, photo, method: str = "w+", steps: int = 300, seed: int = 0,
               progress: bool = True, stop: StopCheck | None = None,
               perceptual: str = "auto") -> InvertOutcome:
        """Invert the largest face of ``photo``; ``method`` in :data:`METHODS`. For PTI,
        ``steps`` is per phase: ``steps`` W-pivot steps, then ``steps`` tuning steps;
        "encoder" (e4e) and "clcae" (W+ and F) ignore ``steps``; "encoder+w+" refines the
        encoder's W+ for ``steps``; "encoder+pti" starts PTI's pivot at the encoder's W.
        ``stop``: polled every step; True ends the run with what it has. ``perceptual``:
        the loss's perceptual term (:data:`~stylelab.inversion.losses.PERCEPTUAL_KINDS`)."""
        method, steps = check_method(method, steps)
        loss = InversionLoss(perceptual=perceptual)
        image, aligned = self.align(photo)
        size = self.G.check_size(self.size)
        target = from_pil(aligned.image, size)
        identity = self.identity_model
        config = OptimizeConfig(space="w" if method.endswith(("w", "pti")) else "w+",
                                steps=steps, seed=seed, size=size, loss=loss)
        pti = PTIConfig(pivot=config, tune_steps=steps, tune_loss=replace(loss, delta=0.0)) \
            if method.endswith("pti") else None
        run = {"progress": progress, "stop": stop}
        if method in ("encoder", "clcae"):
            result = invert_encoder(self.encoder(ENCODER_OF[method]), target, identity)
        elif method == "encoder+w+":
            result = refine(self.encoder("e4e"), target, config, identity, **run)
        elif method == "encoder+pti":
            result = encoder_pti(self.encoder("e4e"), target, pti, identity, **run)
        elif method == "pti":
            result = invert_pti(self.G, target, pti, identity, **run)
        else:
            result = invert(self.G, target, config, identity, **run)
        crop = to_pil(result.reconstruction)[0]
        return InvertOutcome(image, aligned, result, crop, self.paste(image, aligned, result))

    @torch.inference_mode()
    def paste(self, photo: Image.Image, aligned: AlignedFace, result: InversionResult
              ) -> Image.Image:
        """``photo`` with the reconstruction pasted back: rendered at the size the face spans
        in the photo (:func:`paste_size`; the generator's native size at most), blended over
        the face and hair only, with a feathered landmark mask."""
        G = apply_generator_delta(self.G, result.generator_delta) if result.generator_delta \
            else self.G
        size = paste_size(aligned, G.sizes)
        crop = to_pil(G.synthesis(result.latent.to(G.device), size=size,
                                  features_in=result.features))[0]
        return paste_back(photo, crop, aligned, region="head")


def example_photos() -> list[Path]:
    """Studio portraits of synthetic people from PyPI ``openpeople`` (MIT), if installed."""
    spec = importlib.util.find_spec("openpeople")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(list(spec.submodule_search_locations)[0]) / "data" / "curated"
    return sorted(root.glob("P*/assets/studio_portrait.jpg"))
