"""Text-driven editing of one face with StyleCLIP: global directions, latent optimization
and latent mappers, on any registered CLIP-like model.

>>> pipe = TextEditPipeline.from_name("mobilestylegan-ffhq", clip="ViT-B/32")
>>> w = pipe.G.sample_w(1, seed=0, truncation_psi=0.7)
>>> result = pipe.run("global", w, "a smiling face", "a face", alpha=4)
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..cache import cache_dir
from ..clip.base import ClipError, TextImageModel
from ..clip.registry import load_clip
from ..encoders.models import shift_features
from ..inversion.losses import IdentityLoss
from ..models.base import StyleGenerator
from ..optim import StopCheck
from ..registry import DEFAULT_MODEL, load_generator
from ..styleclip.global_directions import apply_global, global_direction
from ..styleclip.mapper import MapperConfig, apply_mapper, load_mapper, train_mapper
from ..styleclip.optimize import (
    ClipOptimizeConfig,
    TextEditResult,
    clip_metrics,
    optimize_text,
)
from ..styleclip.relevance import Relevance, RelevanceConfig, load_or_compute_relevance
from ..styleclip.text import check_prompts, encode_prompt, text_direction
from .checks import check_number, check_steps
from .tuned import TunedGenerators

METHODS = ("global", "optimize", "mapper")
SPACES = ("w+", "s")
ALPHA_LIMIT = 15.0
MAX_STEPS = 5000
IDENTITY_MIN_SIZE = 128  # dlib identity needs a face of at least this many pixels
#: global directions edit at most this many channels (README "StyleCLIP measured"): on the
#: bundled face model β alone keeps thousands and breaks the face; 0 = β alone
MAX_CHANNELS = 100


@dataclass
class TextEditSettings:
    """What the Text edit tab and the CLI ask for; checked by :meth:`check`."""

    method: str = "global"
    alpha: float = 4.0
    beta: float = 0.1
    steps: int = 60
    space: str = "w+"
    max_channels: int = MAX_CHANNELS
    notes: list[str] = field(default_factory=list)

    def check(self, max_steps: int = MAX_STEPS) -> None:
        """Validate every field (ValueError saying what is accepted); steps up to
        ``max_steps`` (the hub passes its own, lower limit)."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        self.alpha = check_number(self.alpha, "α (strength)", -ALPHA_LIMIT, ALPHA_LIMIT)
        self.beta = check_number(self.beta, "β (disentanglement)", 0.0, 0.99)
        if self.space not in SPACES:
            raise ValueError(f"optimization space must be one of {SPACES}, got {self.space!r}")
        channels = check_number(self.max_channels, "max channels", 0, 1_000_000)
        if channels != int(channels):
            raise ValueError(f"max channels must be a whole number (0: no limit), got "
                             f"{self.max_channels!r}")
        self.max_channels = int(channels)
        if self.method != "global":
            self.steps = check_steps(self.steps, max_steps)


class TextEditPipeline:
    """StyleCLIP on the faces of generator ``G`` with text-image model ``clip``.

    ``identity``: the face-identity loss model for optimization and mappers (default: dlib's,
    loaded on first use; None is used for faces smaller than the identity net needs).
    """

    def __init__(self, G: StyleGenerator, clip: TextImageModel,
                 identity: IdentityLoss | None = None, size: int = 256,
                 relevance: RelevanceConfig | None = None):
        self.G = G
        self.clip = clip
        self.preferred_size = size
        self.relevance_config = relevance or RelevanceConfig(size=self.size)
        self._relevance: Relevance | None = None
        self._identity = identity
        self._tuned = TunedGenerators(G)
        self._lock = threading.Lock()

    @classmethod
    def from_name(cls, model_name: str = DEFAULT_MODEL, clip: str | None = None,
                  size: int = 256, device: str = "cpu") -> TextEditPipeline:
        """The pipeline for registry generator ``model_name`` and CLIP model ``clip`` (any
        name :func:`~stylelab.clip.load_clip` accepts; default: :func:`~stylelab.clip.preferred_clip`);
        ClipError when it cannot load."""
        return cls(load_generator(model_name, device), load_clip(clip, device), size=size)

    @property
    def size(self) -> int:
        return min(self.G.sizes, key=lambda s: abs(s - self.preferred_size))

    def identity(self) -> IdentityLoss | None:
        """The identity model, or None for faces too small for it (tiny test models)."""
        if self.size < IDENTITY_MIN_SIZE:
            return None
        with self._lock:
            if self._identity is None:
                from ..faces import IdentityModel

                self._identity = IdentityModel()
            return self._identity

    def generator_for(self, delta: dict[str, torch.Tensor] | None) -> StyleGenerator:
        """``G``, or ``G`` tuned by a PTI ``delta``."""
        return self._tuned.get(delta)

    def relevance(self, progress: bool = True, stop: StopCheck | None = None) -> Relevance:
        """Channel relevance of (G, clip): from the disk cache, or computed once (tqdm;
        ``stop`` ends the computation between faces, which resumes on the next call)."""
        with self._lock:
            if self._relevance is None:
                self._relevance = load_or_compute_relevance(
                    self.G, self.clip, self.relevance_config, progress=progress, stop=stop)
            return self._relevance

    def use_relevance(self, relevance: Relevance) -> None:
        """Global directions use this relevance (e.g. one computed with more faces) instead of
        the cached or shipped one; refused (ClipError) if made for another generator or text
        model."""
        relevance.check(self.G, self.clip)
        with self._lock:
            self._relevance = relevance

    # ------------------------------------------------------------------ methods
    def run(self, method: str, w: torch.Tensor, target: str, neutral: str = "a face", *,
            alpha: float = 4.0, beta: float = 0.1, steps: int = 60, space: str = "w+",
            max_channels: int = MAX_CHANNELS,
            delta: dict[str, torch.Tensor] | None = None,
            features: dict[str, torch.Tensor] | None = None, progress: bool = True,
            stop: StopCheck | None = None, mask: torch.Tensor | None = None
            ) -> TextEditResult:
        """Edit the face ``w`` ((1, w_dim) or W+) towards ``target``; ``delta``: PTI weights;
        ``features``: a CLCAE inversion's F (the edit is found on W+/S, then both images are
        rendered through F moved by it: ``f + G_k(S_edited) - G_k(S)``).
        ``stop``: polled every optimisation / mapper-training step; True ends early (a
        mapper keeps the steps it has done in its checkpoint); polled between faces while
        global directions compute their one-off relevance (RelevanceStopped; resumes).
        ``mask``: ``(H, W)`` in [0, 1]: the edit only inside it, the outside pixel-identical
        (:func:`stylelab.local.masked_edit` on the edited S codes; W+/S only, no F)."""
        settings = TextEditSettings(method, alpha, beta, steps, space, max_channels)
        settings.check()
        model = self.clip
        notes = check_prompts(model, target, neutral if method == "global" else None)
        G = self.generator_for(delta)
        if method == "global":
            result = self._global(G, model, w, target, neutral, settings, progress, stop)
        elif method == "optimize":
            config = ClipOptimizeConfig(space=space, steps=settings.steps, size=self.size)
            result = optimize_text(G, model, w, target, config, identity=self.identity(),
                                   progress=progress, stop=stop)
            if len(result.history) < settings.steps:
                result.notes.append(f"stopped after {len(result.history)} of "
                                    f"{settings.steps} steps")
        else:
            result = self._mapper(G, model, w, target, settings, progress, stop)
        if mask is not None:
            self._inside(G, w, result, mask, features)
        elif features:
            self._through_features(G, w, result, features)
        result.notes = notes + [n for n in result.notes if n not in notes]
        return result

    @torch.no_grad()
    def _inside(self, G: StyleGenerator, w: torch.Tensor, result: TextEditResult,
                mask: torch.Tensor, features: dict[str, torch.Tensor] | None) -> None:
        """Re-render ``result`` with its edit only inside ``mask``; outside, the unedited
        face (through the inversion's ``features`` when given)."""
        from ..local import masked_edit

        edited = {k: v.to(G.device) for k, v in result.styles.items()}
        before = None
        if features:
            f = {k: v.to(G.device) for k, v in features.items()}
            before = G.synthesis(G.to_wplus(w.to(G.device)), size=self.size, features_in=f)
        local = masked_edit(G, w.to(G.device), edited, mask, size=self.size, before=before)
        result.before, result.image = local.before, local.after
        result.notes.append("edited only inside the mask")
        if features:
            result.notes.append("inside the mask the edit is rendered without the "
                                "inversion's CLCAE F features")

    @torch.no_grad()
    def _through_features(self, G: StyleGenerator, w: torch.Tensor, result: TextEditResult,
                          features: dict[str, torch.Tensor]) -> None:
        """Re-render ``result``'s before and after images through the inversion's F."""
        original = G.w_to_s(G.to_wplus(w.to(G.device)))
        edited = {k: v.to(G.device) for k, v in result.styles.items()}
        f = {k: v.to(G.device) for k, v in features.items()}
        result.before = G.synthesis(original, size=self.size, features_in=f).cpu()
        result.image = G.synthesis(edited, size=self.size,
                                   features_in=shift_features(G, f, original, edited)).cpu()
        result.notes.append("rendered through the CLCAE inversion's F features, moved with "
                            "the edit")

    def _global(self, G, model, w, target, neutral, settings, progress,
                stop=None) -> TextEditResult:
        relevance = self.relevance(progress, stop)
        relevance.check(G, model)
        direction = global_direction(relevance, text_direction(model, target, neutral),
                                     settings.beta, settings.max_channels)
        above = int((direction.scores.abs() >= settings.beta).sum())
        notes = [] if above <= direction.channels else [
            f"edited the {direction.channels} channels most relevant to the prompt, of the "
            f"{above} above β (max channels; 0 keeps them all)"]
        with torch.no_grad():
            styles = G.w_to_s(G.to_wplus(w.to(G.device)))
            edited = apply_global(G, styles, direction, relevance, settings.alpha)
            before = G.synthesis(styles, size=self.size)
            image = G.synthesis(edited, size=self.size)
        metrics = clip_metrics(model, before, image, encode_prompt(model, target))
        metrics["channels"] = float(direction.channels)
        return TextEditResult({k: v.cpu() for k, v in edited.items()}, image.cpu(), "global",
                              metrics=metrics, config={"alpha": settings.alpha,
                                                       "beta": settings.beta,
                                                       "max_channels": settings.max_channels,
                                                       "top_channels": direction.top(G, 8)},
                              before=before.cpu(), notes=notes)

    def mapper_path(self, prompt: str) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "prompt"
        digest = hashlib.sha1(prompt.encode()).hexdigest()[:8]
        return (cache_dir() / "styleclip" / self.G.model_name / "mappers" / self.clip.cache_key
                / f"{slug}-{digest}.safetensors")

    def train_mapper(self, prompt: str, steps: int, progress: bool = True,
                     stop: StopCheck | None = None):
        """Train (resuming the cached checkpoint) a mapper for ``prompt`` to ``steps``."""
        config = MapperConfig(prompt=prompt, steps=steps, size=self.size)
        return train_mapper(self.G, self.clip, config, identity=self.identity(),
                            checkpoint=self.mapper_path(prompt), progress=progress, stop=stop)

    def _mapper(self, G, model, w, target, settings, progress, stop=None) -> TextEditResult:
        path = self.mapper_path(target)
        notes = []
        trained = 0
        if path.is_file():
            mapper, _, meta = load_mapper(path, self.G)
            trained = int(meta["step"])
        if trained < settings.steps:
            training = self.train_mapper(target, settings.steps, progress, stop)
            mapper = training.mapper
            notes.append(f"trained the mapper for '{target}' to {training.step} of "
                         f"{settings.steps} steps (from {trained}); later runs resume it")
        else:
            notes.append(f"used the cached mapper for '{target}' ({trained} steps)")
        with torch.no_grad():
            edited = apply_mapper(mapper, w, G)
            before = G.synthesis(G.to_wplus(w.to(G.device)), size=self.size)
            image = G.synthesis(edited, size=self.size)
        metrics = clip_metrics(model, before, image, encode_prompt(model, target))
        return TextEditResult({k: v.cpu() for k, v in G.w_to_s(edited).items()}, image.cpu(),
                              "mapper", edited.cpu(), metrics=metrics, notes=notes,
                              before=before.cpu())



__all__ = ["METHODS", "ClipError", "TextEditPipeline", "TextEditSettings"]
