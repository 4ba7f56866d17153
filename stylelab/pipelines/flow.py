"""StyleFlow editing of one face: measure its attributes, set some to new values (natural
units), render, measure again.

>>> pipe = FlowPipeline.from_name("mobilestylegan-ffhq")
>>> result = pipe.edit(w, {"age": 60, "yaw": 20})
>>> result.measured_after["age"], result.identity
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..encoders.models import shift_features
from ..flows import StyleFlow, flow_edit, load_flow
from ..models.base import StyleGenerator
from ..registry import DEFAULT_MODEL, load_generator
from .textedit import IDENTITY_MIN_SIZE
from .tuned import TunedGenerators

#: how far a requested value may go from the training faces' mean, in their spreads
LIMIT_SPREADS = 4.0
UNITS = {"age": "years", "gender": "probability of male", "yaw": "degrees (+: the image's right)",
         "pitch": "degrees", "smile": "landmark measure", "eye_openness": "landmark measure",
         "mouth_open": "landmark measure", "skin_luma": "0..1"}


@dataclass
class FlowResult:
    """``before``/``after``: ``(1, 3, S, S)`` in [-1, 1]; ``latent``: the edited W or W+;
    ``current``: the attributes the edit started from; ``requested``: the target values;
    ``measured_before``/``measured_after``: every attribute measured on the two images
    (NaN where no face was found); ``identity``: dlib cosine of before vs after."""

    before: torch.Tensor
    after: torch.Tensor
    latent: torch.Tensor
    current: dict[str, float]
    requested: dict[str, float]
    measured_before: dict[str, float]
    measured_after: dict[str, float]
    identity: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


class FlowPipeline:
    """Edits faces of ``G`` with a trained :class:`StyleFlow` (``flow``); ``measurer``: a
    :class:`~stylelab.directions.measures.FaceMeasurer` (default: loaded on first use)."""

    def __init__(self, G: StyleGenerator, flow: StyleFlow, measurer=None, identity=None,
                 size: int = 256):
        self.G, self.flow = G, flow
        self.size = min(G.sizes, key=lambda s: abs(s - size))
        self._measurer, self._identity = measurer, identity
        self._tuned = TunedGenerators(G)
        self._lock = threading.Lock()

    @classmethod
    def from_name(cls, model_name: str = DEFAULT_MODEL, device: str = "cpu") -> FlowPipeline:
        """:class:`~stylelab.flows.FlowUnavailable` says how to train a missing flow."""
        return cls(load_generator(model_name, device), load_flow(model_name, device))

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.flow.config.attributes

    def limits(self) -> dict[str, tuple[float, float]]:
        """Per attribute, the values the flow can be asked for (mean ± 4 spreads of its
        training faces; age at least 0, probabilities within 0..1)."""
        out = {}
        for name, m, s in zip(self.attributes, self.flow.a_mean.tolist(),
                              self.flow.a_std.tolist(), strict=True):
            low, high = m - LIMIT_SPREADS * s, m + LIMIT_SPREADS * s
            if name in ("age", "eye_openness", "mouth_open", "skin_luma", "gender"):
                low = max(low, 0.0)
            if name in ("gender", "skin_luma"):
                high = min(high, 1.0)
            out[name] = (low, high)
        return out

    def check_changes(self, changes: Mapping[str, float]) -> tuple[dict[str, float], list[str]]:
        """(values, notes): unknown names and non-numbers are refused; values outside the
        training range (:meth:`limits`) are clamped to it, and the notes say so."""
        limits, out, notes = self.limits(), {}, []
        for name, value in changes.items():
            if name not in limits:
                raise ValueError(f"unknown attribute {name!r}; StyleFlow sets "
                                 f"{', '.join(self.attributes)}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number ({UNITS.get(name, '')})")
            low, high = limits[name]
            clamped = min(max(value, low), high)
            if clamped != value:
                notes.append(f"{name} {value:g} is outside what the flow was trained on: "
                             f"clamped to {clamped:.3g} (range {low:.3g}..{high:.3g} "
                             f"{UNITS.get(name, '')})")
            out[name] = clamped
        return out, notes

    # -------------------------------------------------------------- measuring
    def measurer(self):
        with self._lock:
            if self._measurer is None:
                from ..directions.measures import FaceMeasurer
                from ..faces import FaceAttributes

                # $FACEAPI_WEIGHTS: a folder of the face-api.js files (offline); else the
                # cache, else a download (FaceAttributes says what to fetch when it cannot)
                self._measurer = FaceMeasurer(FaceAttributes(os.environ.get("FACEAPI_WEIGHTS")))
            return self._measurer

    def measure(self, images: torch.Tensor) -> list[dict[str, float]]:
        """The flow's attributes of each FFHQ-aligned image ``(N, 3, S, S)`` (NaN: no face)."""
        from ..datasets.faceset import label_images

        cols, _ = label_images(images.float().clamp(-1, 1), self.measurer())
        return [{a: float(cols[a][i]) for a in self.attributes} for i in range(len(images))]

    def render(self, latent: torch.Tensor, delta=None, features=None, original=None,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        """``latent`` rendered ``(1, 3, S, S)``; with ``mask`` (``(H, W)`` in [0, 1]) and
        the unedited ``original``, the change only inside the mask (found in the W+ code)
        and the outside pixel-identical to ``original``'s render
        (:func:`stylelab.local.masked_edit`)."""
        G = self._tuned.get(delta)
        if mask is not None:  # outside the mask, the unedited face as rendered (F included)
            from ..local import masked_edit

            before = self.render(original, delta, features) if features else None
            return masked_edit(G, original.to(G.device), latent.to(G.device), mask,
                               size=self.size, before=before).after.cpu()
        f = None
        if features:
            f = shift_features(G, features, original if original is not None else latent, latent)
        with torch.no_grad():
            return G.synthesis(latent.to(G.device), size=self.size, features_in=f).cpu()

    # ---------------------------------------------------------------- editing
    def edit(self, w: torch.Tensor, changes: Mapping[str, float], *,
             current: Mapping[str, float] | None = None, layers: Sequence[int] | None = None,
             delta: dict | None = None, features: dict | None = None,
             mask: torch.Tensor | None = None) -> FlowResult:
        """Set ``changes`` on the face ``w`` (W ``(1, w_dim)`` or W+). ``current``: its
        attributes (default: measured on its image); ``layers``: W+ entries to edit;
        ``mask``: ``(H, W)`` in [0, 1], the edit only inside it (see :meth:`render`)."""
        start = time.perf_counter()
        changes, notes = self.check_changes(changes)
        if not changes:
            raise ValueError("nothing to change: give at least one attribute value")
        before = self.render(w, delta, features)
        measured = self.measure(before)[0]
        return self._edit(w, changes, notes, before, measured, {**measured, **(current or {})},
                          layers, delta, features, start, mask)

    def set_values(self, w: torch.Tensor, targets: Mapping[str, float], *,
                   delta: dict | None = None, features: dict | None = None,
                   mask: torch.Tensor | None = None) -> FlowResult:
        """Move the face to ``targets`` where they differ from its measured values (the
        hub's sliders: every slider is a target, an unmoved one holds its attribute); the
        face is rendered and measured once. ``mask``: as in :meth:`edit`."""
        start = time.perf_counter()
        before = self.render(w, delta, features)
        measured = self.measure(before)[0]
        moved = {k: float(v) for k, v in targets.items()
                 if not math.isfinite(measured.get(k, math.nan))
                 or abs(float(v) - measured[k]) > 1e-3}
        if not moved:
            raise ValueError("every slider is at the face's measured value: move one first")
        changes, notes = self.check_changes(moved)
        return self._edit(w, changes, notes, before, measured, measured, None, delta, features,
                          start, mask)

    def _edit(self, w, changes, notes, before, measured, current, layers, delta, features,
              start, mask=None) -> FlowResult:
        missing = [k for k, v in current.items() if not math.isfinite(v)]
        if missing:
            raise ValueError(f"could not measure {', '.join(missing)} on this face (no face "
                             "found by dlib?): StyleFlow needs its current attributes")
        edit = flow_edit(self.flow, w.to(self.flow.w_mean.device), current, changes, layers)
        latent = edit.latent.to(w.device, w.dtype)
        after = self.render(latent, delta, features, original=w, mask=mask)
        if mask is not None:
            notes = [*notes, "edited only inside the mask; attributes are measured on the "
                             "whole face"]
            if features:
                notes.append("inside the mask the edit is rendered without the inversion's "
                             "CLCAE F features")
        measured_after = self.measure(after)[0]
        result = FlowResult(before, after, latent, current, edit.target, measured,
                            measured_after, self._identity_cosine(before, after),
                            time.perf_counter() - start, notes)
        off = [k for k in changes if abs(measured_after[k] - changes[k]) >
               0.5 * float(self.flow.a_std[self.attributes.index(k)])]
        if off:
            result.notes.append("measured after the edit, further than half a spread from the "
                                f"request: {', '.join(off)}")
        return result

    def _identity_cosine(self, a: torch.Tensor, b: torch.Tensor) -> float | None:
        if self.size < IDENTITY_MIN_SIZE:  # dlib's identity net needs a larger face
            return None
        with self._lock:
            if self._identity is None:
                from ..faces import IdentityModel

                self._identity = IdentityModel()
        with torch.no_grad():
            ea, eb = self._identity.embed(a), self._identity.embed(b)
        return float(torch.nn.functional.cosine_similarity(ea, eb)[0])


def summary(result: FlowResult) -> dict:
    """A JSON-ready record of a :class:`FlowResult` (the CLI's result.json)."""
    def clean(d: Mapping[str, float]) -> dict:
        return {k: (round(v, 4) if np.isfinite(v) else None) for k, v in d.items()}

    return {"requested": clean(result.requested), "current": clean(result.current),
            "measured_before": clean(result.measured_before),
            "measured_after": clean(result.measured_after), "identity": result.identity,
            "seconds": round(result.seconds, 2), "notes": result.notes}
