"""Slider editing of one face: named (InterFaceGAN), GANSpace and StyleSpace directions,
conditional toggles, a W+ layer range, and custom directions from labelled photo folders.

>>> pipe = EditPipeline.from_name("mobilestylegan-ffhq")
>>> w = pipe.seed_latent(0, 0.7)
>>> image = pipe.render(w, {"interfacegan/smile": 2.0, "ganspace/pc0": -1.0})
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..directions.base import Direction, DirectionError, apply_edits, check_layers
from ..directions.detect import DETECT_ATTRIBUTES
from ..directions.interfacegan import condition
from ..directions.library import SUPERVISED, DirectionLibrary
from ..directions.regression import logistic_direction, mean_difference
from ..encoders.models import shift_features
from ..images import to_pil
from ..inversion.losses import IdentityLoss
from ..latents import MAX_SEED, check_truncation, parse_seeds, z_from_seeds
from ..models.base import StyleGenerator
from ..optim import StopCheck
from ..registry import DEFAULT_MODEL, load_generator
from .checks import check_count
from .tuned import TunedGenerators

STRENGTH_LIMITS = {"interfacegan": 5.0, "ganspace": 5.0, "stylespace": 30.0, "custom": 5.0}
PCA_SLIDERS = 10
SLIDER_HINTS = {"gender": " (+ male, − female)", "age": " (+ older)", "yaw": " (head turn)"}


@dataclass(frozen=True)
class SliderSpec:
    """One slider: ``key`` "kind/name" (the render() key), a label and its range."""

    key: str
    label: str
    limit: float

    @property
    def kind(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.key.split("/", 1)[1]


class EditPipeline:
    """Edits faces of generator ``G`` with its :class:`DirectionLibrary` (``directions``;
    default: the shipped or cached sets of ``G.model_name``).

    ``size``: the preferred output size (256 for slider redraws). ``identity``: the face
    identity model used when photos are inverted for a custom direction (loaded on demand).
    """

    def __init__(self, G: StyleGenerator, directions: DirectionLibrary | None = None,
                 size: int = 256, identity: IdentityLoss | None = None):
        self.G = G
        self.preferred_size = size
        self.identity = identity
        self._library = directions
        self._tuned = TunedGenerators(G)
        self._lock = threading.Lock()

    @classmethod
    def from_name(cls, model_name: str = DEFAULT_MODEL, size: int = 256,
                  device: str = "cpu") -> EditPipeline:
        """The pipeline for registry model ``model_name`` (weights load now)."""
        return cls(load_generator(model_name, device), size=size)

    @property
    def size(self) -> int:
        """The offered output size closest to the preferred one (256 for slider redraws)."""
        return min(self.G.sizes, key=lambda s: abs(s - self.preferred_size))

    @property
    def library(self) -> DirectionLibrary:
        with self._lock:
            if self._library is None:
                self._library = DirectionLibrary(self.G)
            return self._library

    # ------------------------------------------------------------------ sliders
    def sliders(self) -> list[SliderSpec]:
        """Every slider the Edit tab shows, in order. Cheap: direction sets that are not
        shipped or cached are computed only when a slider first moves."""
        specs = [SliderSpec(f"interfacegan/{n}", _label(n), STRENGTH_LIMITS["interfacegan"])
                 for n in self._names("interfacegan", SUPERVISED)]
        specs += [SliderSpec(f"ganspace/pc{i}", f"PC {i}", STRENGTH_LIMITS["ganspace"])
                  for i in range(PCA_SLIDERS)]
        channels = self._channels()
        specs += [SliderSpec(f"stylespace/{n}", f"{n} ({channels.get(n, 'S')})",
                             STRENGTH_LIMITS["stylespace"])
                  for n in self._names("stylespace", DETECT_ATTRIBUTES)]
        return specs

    def _names(self, kind: str, default: tuple[str, ...]) -> list[str]:
        return list(self.library.get(kind).names if self.library.available(kind) else default)

    def _channels(self) -> dict[str, str]:
        if not self.library.available("stylespace"):
            return {}
        direction = self.library.get("stylespace")
        return dict(zip(direction.names, direction.metadata.get("channels", [])))

    def attributes(self) -> list[str]:
        """Names of the InterFaceGAN attributes (the conditional toggles)."""
        return self._names("interfacegan", SUPERVISED)

    # ------------------------------------------------------------------ sources
    @torch.inference_mode()
    def seed_latent(self, seed: int, truncation: float = 0.7) -> torch.Tensor:
        """``(1, w_dim)`` W of a seed (a whole number in 0..2**32-1)."""
        [seed] = parse_seeds(seed if isinstance(seed, str) else check_seed(seed))
        return self.G.map(z_from_seeds([seed], self.G.z_dim), check_truncation(truncation))

    def generator_for(self, delta: dict[str, torch.Tensor] | None) -> StyleGenerator:
        """``G``, or a copy of ``G`` tuned by a PTI ``delta`` (see :class:`TunedGenerators`)."""
        return self._tuned.get(delta)

    # ------------------------------------------------------------------ editing
    def edits(self, strengths: dict[str, float], layers: tuple[int, int] | None = None,
              conditions: list[str] | tuple[str, ...] = (),
              custom: Direction | None = None) -> list[tuple[Direction, str, float, tuple | None]]:
        """The ``(direction, name, strength, layers)`` list for :func:`apply_edits`."""
        if layers is not None:
            layers = check_layers(self.G, layers)
        out = []
        for key, value in strengths.items():
            value = float(value)
            kind, _, name = key.partition("/")
            limit = STRENGTH_LIMITS.get(kind)
            if limit is None:
                raise DirectionError(f"unknown slider {key!r}")
            if not -limit <= value <= limit:
                raise DirectionError(f"{key} strength must be within ±{limit:g}, got {value:g}")
            if value == 0.0:
                continue
            if kind == "custom":
                if custom is None:
                    raise DirectionError("no custom direction yet: compute one first")
                out.append((custom, custom.names[0], value, layers))
                continue
            direction = self.library.get(kind)
            others = [c for c in conditions if c != name] if kind == "interfacegan" else []
            if others:
                direction = condition(direction, name, others)
                name = direction.names[0]
            out.append((direction, name, value, layers if direction.space == "w" else None))
        return out

    @staticmethod
    def ignored_conditions(strengths: dict[str, float], conditions=()) -> list[str]:
        """Notes for "keep unchanged" attributes that are being moved themselves (an
        attribute cannot be held fixed while it is edited, so that toggle has no effect)."""
        moved = {key.partition("/")[2] for key, v in strengths.items()
                 if key.startswith("interfacegan/") and float(v or 0.0) != 0.0}
        return [f"'keep unchanged: {c}' has no effect while the {c} slider itself moves"
                for c in conditions if c in moved]

    @torch.inference_mode()
    def render(self, w: torch.Tensor, strengths: dict[str, float] | None = None, *,
               layers: tuple[int, int] | None = None, conditions=(),
               custom: Direction | None = None,
               delta: dict[str, torch.Tensor] | None = None,
               features: dict[str, torch.Tensor] | None = None,
               mask: torch.Tensor | None = None) -> Image.Image:
        """The edited face at ``self.size`` as a PIL image. ``w``: (1, w_dim) or W+;
        ``delta``: PTI weights; ``features``: a CLCAE inversion's F, moved with the edit
        (``f + G_k(edited) - G_k(w)``, :func:`~stylelab.encoders.shift_features`);
        ``mask``: ``(H, W)`` in [0, 1]: the edit only inside it, blended in feature space
        and composited so that the outside stays pixel-identical to the unedited face
        (through ``features`` when given; :func:`stylelab.local.masked_edit`, the edit
        itself in the W+ code only)."""
        G = self.generator_for(delta)
        w = w.to(G.device)
        latent = apply_edits(G, w, self.edits(strengths or {}, layers, conditions, custom))
        if mask is not None:  # the edit in W+ only; outside, the face as it is shown
            from ..local import masked_edit

            before = G.synthesis(w, size=self.size, features_in=features) if features else None
            return to_pil(masked_edit(G, w, latent, mask, size=self.size, before=before).after)[0]
        f_in = shift_features(G, features, w, latent) if features else None
        return to_pil(G.synthesis(latent, size=self.size, features_in=f_in))[0]

    # ------------------------------------------------------------- custom folders
    def direction_from_photos(self, with_attr: list[str | Path], without_attr: list[str | Path],
                              name: str = "custom", steps: int = 100,
                              method: str = "mean-difference",
                              stop: StopCheck | None = None) -> Direction:
        """Invert two sets of photos into W (``steps`` each) and estimate a direction:
        ``"mean-difference"`` or ``"logistic"``. Faces that cannot be found are reported.
        ``stop``: polled between photos; True abandons the direction (DirectionError)."""
        from .invert import InversionPipeline

        if len(with_attr) < 2 or len(without_attr) < 2:
            raise DirectionError("give at least 2 photos with the attribute and 2 without")
        inverter = InversionPipeline(self.G, identity=self.identity, size=self.size)
        latents, labels, failed = [], [], []
        photos = [(p, True) for p in with_attr] + [(p, False) for p in without_attr]
        for path, label in tqdm(photos, desc="invert labelled photos"):
            if stop is not None and stop():
                raise DirectionError("cancelled: no custom direction was made")
            try:
                outcome = inverter.invert(path, "w", steps, progress=False)
            except ValueError as exc:
                failed.append(f"{Path(str(path)).name}: {exc}")
                continue
            latents.append(outcome.result.latent[0].numpy())
            labels.append(label)
        if failed and len(latents) < 4:
            raise DirectionError("too few usable photos; " + "; ".join(failed))
        fit = logistic_direction if method == "logistic" else mean_difference
        direction = fit(self.G, np.stack(latents), np.array(labels), name)
        direction.metadata["skipped"] = failed
        return direction


def _label(name: str) -> str:
    """A slider label that says which way is which where it is not obvious."""
    return name.replace("_", " ") + SLIDER_HINTS.get(name, "")


def check_seed(value: float | None) -> int:
    """A seed typed in a number field: a whole number in 0..2**32-1, else ValueError."""
    return check_count(value, "a seed", 0, MAX_SEED)
