"""Text-driven editing of one face with StyleCLIP: global directions, latent optimization
and latent mappers, on any registered CLIP-like model.

>>> pipe = TextEditPipeline("mobilestylegan-ffhq")
>>> w = pipe.edit.seed_latent(0)
>>> result = pipe.run("global", w, "a smiling face", "a face", clip="ViT-B/32", alpha=4)
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
from ..clip.registry import DEFAULT_CLIP, load_clip
from ..models.base import StyleGenerator
from ..styleclip.global_directions import apply_global, global_direction
from ..styleclip.mapper import MapperConfig, apply_mapper, load_mapper, train_mapper
from ..styleclip.optimize import ClipOptimizeConfig, TextEditResult, clip_metrics, optimize_text
from ..styleclip.relevance import Relevance, RelevanceConfig, load_or_compute_relevance
from ..styleclip.text import check_prompts, encode_prompt, text_direction
from .edit import EditPipeline, get_edit_pipeline

METHODS = ("global", "optimize", "mapper")
ALPHA_LIMIT = 15.0
MAX_STEPS = 5000
IDENTITY_MIN_SIZE = 128  # dlib identity needs a face of at least this many pixels


@dataclass
class TextEditSettings:
    """What the Text edit tab and the CLI ask for; checked by :meth:`check`."""

    method: str = "global"
    alpha: float = 4.0
    beta: float = 0.1
    steps: int = 60
    space: str = "w+"
    notes: list[str] = field(default_factory=list)

    def check(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if not -ALPHA_LIMIT <= self.alpha <= ALPHA_LIMIT:
            raise ValueError(f"α must be within ±{ALPHA_LIMIT:g}, got {self.alpha:g}")
        if not 0.0 <= self.beta < 1.0:
            raise ValueError(f"β must be in [0, 1), got {self.beta:g}")
        if self.method != "global" and not 1 <= int(self.steps) <= MAX_STEPS:
            raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {self.steps}")


class TextEditPipeline:
    """StyleCLIP on the faces of ``model_name`` (shares the generator with the Edit tab)."""

    def __init__(self, model_name: str = "mobilestylegan-ffhq", size: int = 256,
                 relevance: RelevanceConfig | None = None):
        self.edit: EditPipeline = get_edit_pipeline(model_name)
        self.preferred_size = size
        self.relevance_config = relevance or RelevanceConfig(size=self.size)
        self._relevance: dict[str, Relevance] = {}
        self._identity = None
        self._lock = threading.Lock()

    @property
    def G(self) -> StyleGenerator:
        return self.edit.G

    @property
    def size(self) -> int:
        return min(self.G.sizes, key=lambda s: abs(s - self.preferred_size))

    def clip(self, name: str = DEFAULT_CLIP) -> TextImageModel:
        return load_clip(name)

    def identity(self):
        """The dlib identity model, or None for faces too small for it (tiny test models)."""
        if self.size < IDENTITY_MIN_SIZE:
            return None
        if self._identity is None:
            from ..faces import IdentityModel

            self._identity = IdentityModel()
        return self._identity

    def relevance(self, clip: TextImageModel, progress: bool = True) -> Relevance:
        """Cached channel relevance of (G, clip); computed once (progress via tqdm)."""
        with self._lock:
            if clip.name not in self._relevance:
                self._relevance[clip.name] = load_or_compute_relevance(
                    self.G, clip, self.relevance_config, progress=progress)
            return self._relevance[clip.name]

    # ------------------------------------------------------------------ methods
    def run(self, method: str, w: torch.Tensor, target: str, neutral: str = "a face", *,
            clip: str = DEFAULT_CLIP, alpha: float = 4.0, beta: float = 0.1, steps: int = 60,
            space: str = "w+", delta: dict[str, torch.Tensor] | None = None,
            progress: bool = True) -> TextEditResult:
        """Edit the face ``w`` ((1, w_dim) or W+) towards ``target``; ``delta``: PTI weights."""
        settings = TextEditSettings(method, float(alpha), float(beta), int(steps), space)
        settings.check()
        model = self.clip(clip)
        notes = check_prompts(model, target, neutral if method == "global" else None)
        G = self.edit.generator_for(delta)
        if method == "global":
            result = self._global(G, model, w, target, neutral, settings, progress)
        elif method == "optimize":
            config = ClipOptimizeConfig(space=space, steps=settings.steps, size=self.size)
            result = optimize_text(G, model, w, target, config, identity=self.identity(),
                                   progress=progress)
        else:
            result = self._mapper(G, model, w, target, settings, progress)
        result.notes = notes + [n for n in result.notes if n not in notes]
        return result

    def _global(self, G, model, w, target, neutral, settings, progress) -> TextEditResult:
        relevance = self.relevance(model, progress)
        relevance.check(G, model)
        direction = global_direction(relevance, text_direction(model, target, neutral),
                                     settings.beta)
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
                                                       "top_channels": direction.top(G, 8)},
                              before=before.cpu())

    def mapper_path(self, model: TextImageModel, prompt: str) -> Path:
        slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:40] or "prompt"
        digest = hashlib.sha1(prompt.encode()).hexdigest()[:8]
        return (cache_dir() / "styleclip" / self.G.model_name / "mappers" / model.cache_key
                / f"{slug}-{digest}.safetensors")

    def train_mapper(self, model: TextImageModel, prompt: str, steps: int,
                     progress: bool = True):
        """Train (resuming the cached checkpoint) a mapper for ``prompt`` to ``steps``."""
        config = MapperConfig(prompt=prompt, steps=steps, size=self.size)
        return train_mapper(self.G, model, config, identity=self.identity(),
                            checkpoint=self.mapper_path(model, prompt), progress=progress)

    def _mapper(self, G, model, w, target, settings, progress) -> TextEditResult:
        path = self.mapper_path(model, target)
        notes = []
        trained = 0
        if path.is_file():
            mapper, _, meta = load_mapper(path, self.G)
            trained = int(meta["step"])
        if trained < settings.steps:
            notes.append(f"trained the mapper for '{target}' to {settings.steps} steps "
                         f"(from {trained}); later runs reuse it")
            mapper = self.train_mapper(model, target, settings.steps, progress).mapper
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


_pipelines: dict[str, TextEditPipeline] = {}


def get_text_pipeline(model_name: str = "mobilestylegan-ffhq") -> TextEditPipeline:
    """One shared TextEditPipeline per generator (relevance and identity load once)."""
    if model_name not in _pipelines:
        _pipelines[model_name] = TextEditPipeline(model_name)
    return _pipelines[model_name]


__all__ = ["METHODS", "ClipError", "TextEditPipeline", "TextEditSettings", "get_text_pipeline"]
