"""One-shot and text-driven domain adaptation: fine-tune a copy of a generator into an
aligned child whose every sample is the parent's sample in a new style.

* :func:`adapt` (one entry point): ``"difa"`` and ``"jojo"`` from one reference image,
  ``"nada"`` from a source and a target text;
* :class:`AdaptedGenerator` (save / :func:`load_adapted`), :func:`list_adapted`;
* :mod:`.filters`: target domains with a known right answer, for the benchmark and tests.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import asdict
from pathlib import Path

import torch
from PIL import Image

from ..images import to_uint8
from ..inversion.optimize import prepare_target
from ..models.base import StyleGenerator
from ..optim import StopCheck
from .adapted import (
    AdaptedGenerator,
    adapted_root,
    generator_digest,
    is_adapted_dir,
    list_adapted,
    load_adapted,
    make_adapted,
)
from .difa import DiFaConfig, default_inverter, difa_loss
from .embed import DEFAULT_EMBED, ImageEmbedder, embedder_from, load_embedder
from .filters import apply_filter, list_filters
from .jojo import JoJoConfig, jojo_loss, reference_latent
from .loop import AdaptConfig, Preview, train, trainable_names, training_size
from .nada import NADAConfig, nada_loss

METHODS = {"difa": DiFaConfig, "jojo": JoJoConfig, "nada": NADAConfig}

__all__ = ["AdaptConfig", "AdaptedGenerator", "DEFAULT_EMBED", "DiFaConfig", "ImageEmbedder",
           "JoJoConfig", "METHODS", "NADAConfig", "adapt", "adapted_root", "apply_filter",
           "embedder_from", "generator_digest", "is_adapted_dir", "list_adapted",
           "list_filters", "list_methods", "load_adapted", "load_embedder"]


def default_name(method: str, target_text: str | None = None) -> str:
    """``<method>[-<target text>]-<time>``, file-name safe: the name a child gets when none is
    given (``adapted:<name>`` once saved in the cache)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{method}-{target_text or ''}".strip().lower())
    return f"{stem[:40].strip('-')}-{time.strftime('%Y%m%d-%H%M%S')}"


def list_methods() -> list[str]:
    return list(METHODS)


def reference_sha256(reference: torch.Tensor) -> str:
    """sha256 of the reference's 8-bit pixels (what was trained on, not the file)."""
    return hashlib.sha256(to_uint8(reference[:1]).tobytes()).hexdigest()


def adapt(G: StyleGenerator, method: str, *, reference: torch.Tensor | Image.Image | None = None,
          source_text: str | None = None, target_text: str | None = None,
          config: AdaptConfig | None = None, embedder: ImageEmbedder | None = None,
          clip=None, inverter=None, latent: torch.Tensor | None = None,
          backbone=None, name: str | None = None, progress: bool = True,
          preview: Preview | None = None, preview_every: int = 0,
          stop: StopCheck | None = None, checkpoint: str | Path | None = None
          ) -> AdaptedGenerator:
    """Adapt ``G`` (unchanged) with ``method``; returns the child as an :class:`AdaptedGenerator`.

    * ``"difa"``: ``reference`` (PIL or ``(1, 3, H, W)`` in [-1, 1]); ``embedder`` (default
      :func:`load_embedder` ``()``: VGG16 style statistics and tokens); ``inverter``
      (images -> W+) for the selective consistency (default: our e4e encoder when trained,
      else the term is off);
      ``latent``: the reference's W+ code (default: inverted) for the reference direction.
    * ``"jojo"``: ``reference``; its W+ ``latent`` (default: inverted); ``backbone`` for the
      feature matching (default ``config.backbone``).
    * ``"nada"``: ``source_text``, ``target_text`` and ``clip`` (any TextImageModel; default
      :func:`stylelab.clip.load_clip` ``()``).

    ``config``: the method's config dataclass (default: its defaults). ``preview(step, child,
    terms)`` every ``preview_every`` steps; ``stop()`` True ends early; ``checkpoint``: a
    folder to resume from. ValueError for an unknown method or missing inputs.
    """
    if method not in METHODS:
        raise ValueError(f"unknown adaptation method {method!r}; valid: {', '.join(METHODS)}")
    config = config or METHODS[method]()
    if not isinstance(config, METHODS[method]):
        raise ValueError(f"{method} takes a {METHODS[method].__name__}, got "
                         f"{type(config).__name__}")
    start_cpu, start = time.process_time(), time.perf_counter()
    ref = None
    if method in ("difa", "jojo"):
        if reference is None:
            raise ValueError(f"{method} adapts from one reference image: give reference=")
        ref = prepare_target(reference, training_size(G, config.size), G)
    select, extra = None, {}
    if method == "difa":
        embedder = embedder or load_embedder(DEFAULT_EMBED, G.device)
        inverter = inverter if inverter is not None else default_inverter(G)
        if config.direction == "inverted" and latent is None:
            latent = reference_latent(G, ref, config.inversion_steps, progress)
        step_loss = difa_loss(G, ref, embedder, config, inverter, latent)
        extra = {"embed": embedder.name, "consistency": inverter is not None
                 and config.consistency_weight > 0}
    elif method == "jojo":
        from ..perceptual import load_backbone

        backbone = backbone or load_backbone(config.backbone, G.device)
        if latent is None:
            latent = reference_latent(G, ref, config.inversion_steps, progress)
        step_loss = jojo_loss(G, ref, latent, backbone, config)
        extra = {"backbone": backbone.name}
    else:
        if clip is None:
            from ..clip import load_clip

            clip = load_clip(None, G.device)
        step_loss, select = nada_loss(G, clip, source_text or "", target_text or "", config)
        extra = {"clip": clip.name, "source_text": source_text, "target_text": target_text}
    names = trainable_names(G, rgb=config.train_rgb, affines=config.train_affines)
    result = train(G, step_loss, config, names, desc=f"adapt {method}", progress=progress,
                   preview=preview, preview_every=preview_every, stop=stop,
                   checkpoint=checkpoint, select=select)
    label = name or default_name(method, target_text)
    return make_adapted(G, result.tuned, method=method, name=label,
                        config={**asdict(config), **extra},
                        reference_sha256=reference_sha256(ref) if ref is not None else None,
                        history=result.history, steps=result.steps,
                        seconds=time.perf_counter() - start,
                        cpu_seconds=time.process_time() - start_cpu)

