"""The outcome of an inversion: latent, optional generator change, image, history, metrics.

On disk (:meth:`InversionResult.save`)::

    dir/reconstruction.png    the reconstruction, 8-bit RGB
    dir/latents.safetensors   "latent", "reconstruction" (+ "delta.<param>" tensors, float16;
                              + "features.<layer>": a CLCAE inversion's F)
    dir/metrics.json          method, space, metrics, seconds, steps_run, history
                              summary, full history and the config that produced it
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..fileio import atomic_write, save_png, write_text
from ..images import to_pil
from ..models.base import StyleGenerator

DELTA_PREFIX = "delta."
FEATURES_PREFIX = "features."


@dataclass
class InversionResult:
    """What :func:`~stylelab.inversion.invert` and :func:`~stylelab.inversion.invert_pti` return.

    * ``latent``: W ``(1, w_dim)`` or W+ ``(1, num_ws, w_dim)``, detached, on the CPU.
    * ``space``: "w" or "w+".
    * ``generator_delta``: PTI weight changes ``{parameter name: tuned - original}``
      (only the synthesis parameters that changed), or None for plain inversion.
    * ``reconstruction``: ``(1, 3, S, S)`` in [-1, 1], the (tuned) generator's image of ``latent``.
    * ``history``: one dict of float loss terms per optimisation step (PTI: pivot
      steps then tuning steps, each with a "phase" entry).
    * ``metrics``: "psnr" (dB), "ms_ssim" and, when an identity model was given,
      "identity" (``1 - identity loss``: the cosine similarity for a ``1 - cos`` loss).
    * ``seconds``, ``steps_run``, ``method`` ("optimize" | "pti" | "encoder:<kind>" |
      "encoder:<kind>+w+" | "encoder:<kind>+pti"), ``config`` (a plain dict).
    * ``features``: a CLCAE inversion's F, ``{layer: (1, C, H, W)}`` (synthesis resumes from
      it: ``G.synthesis(latent, features_in=features)``; edits go through
      :func:`~stylelab.encoders.edit_features`), else None.
    """

    latent: torch.Tensor
    space: str
    reconstruction: torch.Tensor
    generator_delta: dict[str, torch.Tensor] | None = None
    history: list[dict[str, float | str]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    steps_run: int = 0
    method: str = "optimize"
    config: dict[str, Any] = field(default_factory=dict)
    features: dict[str, torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if self.space not in ("w", "w+"):
            raise ValueError(f"space must be 'w' or 'w+', got {self.space!r}")
        want_ndim = 2 if self.space == "w" else 3
        if self.latent.ndim != want_ndim or self.latent.shape[0] != 1:
            raise ValueError(f"a {self.space} latent must have {want_ndim} dims and batch 1, "
                             f"got {tuple(self.latent.shape)}")

    # ------------------------------------------------------------- generator
    def apply_delta(self, G: StyleGenerator) -> StyleGenerator:
        """A tuned copy of ``G`` (deepcopy + ``generator_delta``); ``G`` itself is unchanged.

        Without a delta this is a plain copy. The copy has gradients off and can be
        used like any generator by every editing method.
        """
        return apply_generator_delta(G, self.generator_delta)

    def synthesize(self, G: StyleGenerator) -> torch.Tensor:
        """Re-render ``latent`` with ``G`` tuned by the delta: ``(1, 3, S, S)`` in [-1, 1]."""
        size = self.reconstruction.shape[-1]
        with torch.no_grad():
            return self.apply_delta(G).synthesis(self.latent.to(G.device), size=size,
                                                 features_in=self.features).cpu()

    # ------------------------------------------------------------------- I/O
    def save(self, directory: str | Path, delta_dtype: torch.dtype = torch.float16) -> Path:
        """Write ``reconstruction.png``, ``latents.safetensors`` and ``metrics.json``; returns the dir.

        Generator deltas are stored as ``delta_dtype``: float16 halves the file (about
        14 MB for a 256 px MobileStyleGAN PTI) and changes the re-rendered image by
        ~1e-5 (PSNR > 120 dB against float32); pass ``torch.float32`` for exact copies.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_png(to_pil(self.reconstruction)[0], directory / "reconstruction.png")
        tensors = {"latent": self.latent.float(), "reconstruction": self.reconstruction.float()}
        for name, delta in (self.generator_delta or {}).items():
            tensors[DELTA_PREFIX + name] = delta.to(delta_dtype)
        for name, f in (self.features or {}).items():
            tensors[FEATURES_PREFIX + name] = f.float()
        with atomic_write(directory / "latents.safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
        info = {
            "method": self.method, "space": self.space, "metrics": self.metrics,
            "seconds": self.seconds, "steps_run": self.steps_run,
            "has_delta": self.generator_delta is not None,
            "history_summary": history_summary(self.history), "history": self.history,
            "config": self.config,
        }
        write_text(directory / "metrics.json", json.dumps(info, indent=2, default=str))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> InversionResult:
        """Read a result written by :meth:`save`."""
        directory = Path(directory)
        tensors = load_file(str(directory / "latents.safetensors"))
        info = json.loads((directory / "metrics.json").read_text())
        delta = {k[len(DELTA_PREFIX):]: v.float() for k, v in tensors.items()
                 if k.startswith(DELTA_PREFIX)}
        features = {k[len(FEATURES_PREFIX):]: v.float() for k, v in tensors.items()
                    if k.startswith(FEATURES_PREFIX)}
        return cls(
            latent=tensors["latent"], space=info["space"],
            reconstruction=tensors["reconstruction"],
            generator_delta=delta if info.get("has_delta") else None,
            history=info.get("history", []), metrics=info.get("metrics", {}),
            seconds=info.get("seconds", 0.0), steps_run=info.get("steps_run", 0),
            method=info.get("method", "optimize"), config=info.get("config", {}),
            features=features or None,
        )


def history_summary(history: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """``{term: {"first", "last", "min"}}`` over the numeric entries of a history; with a
    "phase" entry (PTI) the keys are ``"<phase>/<term>"``."""
    series: dict[str, list[float]] = {}
    for step in history:
        prefix = f"{step['phase']}/" if "phase" in step else ""
        for key, value in step.items():
            if isinstance(value, (int, float)) and key != "step":
                series.setdefault(prefix + key, []).append(float(value))
    return {k: {"first": v[0], "last": v[-1], "min": min(v)} for k, v in series.items()}


def apply_generator_delta(G: StyleGenerator, delta: dict[str, torch.Tensor] | None
                          ) -> StyleGenerator:
    """A copy of ``G`` with ``delta`` added to its parameters (gradients off); ``G`` is
    unchanged. KeyError when the delta names parameters ``G`` does not have."""
    tuned = copy.deepcopy(G).requires_grad_(False)
    params = dict(tuned.named_parameters())
    unknown = sorted(set(delta or {}) - set(params))
    if unknown:
        raise KeyError(f"the generator has no parameters {unknown[:5]}: wrong model?")
    with torch.no_grad():
        for name, value in (delta or {}).items():
            params[name].add_(value.to(params[name]))
    return tuned
